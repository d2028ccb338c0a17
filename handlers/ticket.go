package handlers

import (
	"context"

	"go.uber.org/zap"
)

// Tracker is a ticket system as the ticket handlers (ServiceNow, Jira) use
// it for one action: find the open ticket of the action's problem, add a
// note to it, or open one.
type Tracker interface {
	// Find returns the open ticket of the problem, or "".
	Find(ctx context.Context) (ticket string, retry bool, err error)
	// Note adds the action's note to ticket.
	Note(ctx context.Context, ticket string) (retry bool, err error)
	// Open opens a ticket and returns its reference.
	Open(ctx context.Context) (ticket string, retry bool, err error)
}

// DeliverTicket is how ticket handlers deliver an action of the problem
// key: one delivery per key at a time, so two cannot both find nothing and
// both open a ticket; search before create, so a delivery repeated after a
// crash notes the ticket it opened instead of opening another; an open
// ticket is noted (or, without a note, left alone); a resolving action
// never opens a ticket.
func DeliverTicket(ctx context.Context, locks *KeyLocks, key string, a *Action, hasNote bool, t Tracker, log *zap.Logger) (retry bool, err error) {
	ctx, cancel := WithTimeout(ctx)
	defer cancel()
	unlock, err := locks.Lock(ctx, key)
	if err != nil {
		return true, err
	}
	defer unlock()
	ticket, retry, err := t.Find(ctx)
	if err != nil {
		return retry, err
	}
	log = log.With(zap.String("action_id", a.ID), zap.String("key", key))
	switch {
	case ticket != "" && !hasNote:
		log.Info("ticket already open", zap.String("ticket", ticket))
		return false, nil
	case ticket != "":
		if retry, err := t.Note(ctx, ticket); err != nil {
			return retry, err
		}
		log.Info("ticket noted", zap.String("ticket", ticket))
		return false, nil
	case a.Resolve:
		log.Info("no open ticket to resolve")
		return false, nil
	}
	ticket, retry, err = t.Open(ctx)
	if err != nil {
		return retry, err
	}
	log.Info("ticket opened", zap.String("ticket", ticket))
	return false, nil
}
