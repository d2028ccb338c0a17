package webhook

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/logmedic/logmedic/handlers"
)

// Body is a request body written as YAML: a mapping, a list or a scalar,
// nested at will. Its strings are templates. Render fills each one and
// the caller JSON-encodes the result, so rendered text is always a JSON
// string value and can never change the body's structure.
type Body struct {
	root *node
}

type nodeKind int

const (
	kindValue    nodeKind = iota // a number, boolean or null, sent as is
	kindTemplate                 // a string: a template
	kindMap
	kindList
)

type node struct {
	kind  nodeKind
	value any
	tmpl  *handlers.Template
	keys  []string
	elems []*node // values of a mapping (parallel to keys), or list items
}

// Limits on what a body may expand to: YAML aliases can multiply nodes.
const (
	maxDepth = 32
	maxNodes = 10000
)

// NewBody compiles a body from YAML text (tests and tools).
func NewBody(text string) (*Body, error) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(text), &n); err != nil {
		return nil, err
	}
	var b Body
	if err := b.UnmarshalYAML(&n); err != nil {
		return nil, err
	}
	return &b, nil
}

// UnmarshalYAML compiles every string of the body as a template. Its
// errors are *handlers.NodeError, at the offending node.
func (b *Body) UnmarshalYAML(n *yaml.Node) error {
	count := 0
	root, err := compile(n, "", 0, &count)
	if err != nil {
		return err
	}
	b.root = root
	return nil
}

func compile(n *yaml.Node, path string, depth int, count *int) (*node, error) {
	// Errors carry the node, so the loader reports them where they are.
	at := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		if path != "" {
			msg = path + ": " + msg
		}
		return &handlers.NodeError{Node: n, Err: errors.New(msg)}
	}
	*count++
	if depth > maxDepth || *count > maxNodes {
		return nil, at("body is nested too deeply or too large")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return &node{kind: kindValue}, nil
		}
		return compile(n.Content[0], path, depth, count)
	case yaml.AliasNode:
		return compile(n.Alias, path, depth+1, count)
	case yaml.MappingNode:
		m := &node{kind: kindMap}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.AliasNode {
				k = k.Alias
			}
			if k.ShortTag() == "!!merge" {
				return nil, at("merge keys (<<) are not supported in a body")
			}
			if k.Kind != yaml.ScalarNode {
				return nil, at("mapping keys must be text")
			}
			if seen[k.Value] {
				return nil, at("key %q appears twice", k.Value)
			}
			seen[k.Value] = true
			v, err := compile(n.Content[i+1], join(path, k.Value), depth+1, count)
			if err != nil {
				return nil, err
			}
			m.keys = append(m.keys, k.Value)
			m.elems = append(m.elems, v)
		}
		return m, nil
	case yaml.SequenceNode:
		l := &node{kind: kindList}
		for i, c := range n.Content {
			v, err := compile(c, path+"["+strconv.Itoa(i)+"]", depth+1, count)
			if err != nil {
				return nil, err
			}
			l.elems = append(l.elems, v)
		}
		return l, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str", "!!timestamp":
			t, err := handlers.NewTemplate(n.Value)
			if err != nil {
				return nil, at("%v", err)
			}
			return &node{kind: kindTemplate, tmpl: t}, nil
		case "!!null":
			return &node{kind: kindValue}, nil
		case "!!bool", "!!int", "!!float":
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, at("%v", err)
			}
			if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
				return nil, at("%s cannot be sent in JSON", n.Value)
			}
			return &node{kind: kindValue, value: v}, nil
		}
		return nil, at("unsupported tag %s: quote the value to send text", n.Tag)
	}
	return nil, at("unsupported YAML node")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Render fills the body's templates for d. The result holds only
// map[string]any, []any, strings and the YAML's own scalars, ready for
// json.Marshal.
func (b *Body) Render(d *handlers.Data) (any, error) {
	if b == nil || b.root == nil {
		return nil, errors.New("empty body")
	}
	return b.root.render(d, "")
}

func (n *node) render(d *handlers.Data, path string) (any, error) {
	switch n.kind {
	case kindTemplate:
		s, err := n.tmpl.Execute(d)
		if err != nil && path != "" {
			err = fmt.Errorf("%s: %w", path, err)
		}
		return s, err
	case kindMap:
		m := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			v, err := n.elems[i].render(d, join(path, k))
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	case kindList:
		l := make([]any, 0, len(n.elems))
		for i, e := range n.elems {
			v, err := e.render(d, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	}
	return n.value, nil
}

// Templates returns the body's templates, for callers that look at what
// templates use (config.NeedsMessage).
func (b *Body) Templates() []*handlers.Template {
	var out []*handlers.Template
	var walk func(*node)
	walk = func(n *node) {
		if n == nil {
			return
		}
		if n.tmpl != nil {
			out = append(out, n.tmpl)
		}
		for _, e := range n.elems {
			walk(e)
		}
	}
	walk(b.root)
	return out
}
