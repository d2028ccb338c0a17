"""SMTP server for the email handler's tests (Debian: python3-aiosmtpd).

Listens on 127.0.0.1:PORT with STARTTLS (--mode starttls: required before
AUTH and MAIL), implicit TLS (--mode tls) or neither (--mode none), accepts
AUTH PLAIN/LOGIN for one user, and saves each message to DIR as a JSON file
(envelope, how the session was secured, the raw message in base64).
Recipients starting with "tempfail" get 451, with "reject" 550. Prints
"ready" once it accepts connections; stops when stdin closes.
"""

import argparse
import base64
import json
import os
import ssl
import sys
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


# aiosmtpd itself still sets the deprecated Session.login_data.
warnings.filterwarnings("ignore", category=DeprecationWarning)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["starttls", "tls", "none"], default="starttls")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user", default="")
    p.add_argument("--password", default="")
    p.add_argument("--dir", required=True)
    args = p.parse_args()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == args.user.encode()
            and auth_data.password == args.password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    class Handler:
        count = 0

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.startswith("tempfail"):
                return "451 4.3.0 try again later"
            if address.startswith("reject"):
                return "550 5.1.1 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            Handler.count += 1
            rec = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "starttls": session.ssl is not None,
                "tls": server.transport.get_extra_info("ssl_object") is not None,
                "authenticated": bool(session.authenticated),
                "login": (session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else ""),
                "data": base64.b64encode(envelope.original_content).decode(),
            }
            name = os.path.join(args.dir, "%04d.json" % Handler.count)
            with open(name + ".tmp", "w") as f:
                json.dump(rec, f)
            os.rename(name + ".tmp", name)
            return "250 2.0.0 saved"

    ctx = None
    if args.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.cert, args.key)
    kw = dict(
        hostname="127.0.0.1",
        port=args.port,
        authenticator=authenticator,
        auth_required=bool(args.user),
        # aiosmtpd only counts STARTTLS as encryption.
        auth_require_tls=args.mode == "starttls",
    )
    if args.mode == "starttls":
        kw.update(tls_context=ctx, require_starttls=True)
    elif args.mode == "tls":
        kw.update(ssl_context=ctx)
    controller = Controller(Handler(), **kw)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
