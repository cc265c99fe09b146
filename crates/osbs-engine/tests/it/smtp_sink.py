"""SMTP sink for osbs-engine's notification tests, on aiosmtpd.

Usage: smtp_sink.py OUT_FILE

Listens on 127.0.0.1 on a free port and prints the port on its first stdout line. Each message
is appended to OUT_FILE as one JSON line: the envelope (mail_from, rcpt_tos), the header lines
as received (headers: [[name, value], ...], unfolded and decoded) and the decoded text body.
"""

import asyncio
import email
import email.policy
import json
import sys

from aiosmtpd.smtp import SMTP

out_file = sys.argv[1]


class Sink:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": [[name, str(value)] for name, value in message.items()],
            "body": message.get_content(),
        }
        with open(out_file, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        return "250 OK"


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Sink()), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


asyncio.run(main())
