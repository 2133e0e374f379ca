"""Sending email through an SMTP server."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

from guild_notify.app.ports import OutgoingEmail


class SmtpMailer:
    """Plain SMTP (multipart text and HTML) through the standard library, off the event loop."""

    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout

    def _message(self, email: OutgoingEmail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Message-ID"] = f"<{email.id.replace(':', '.')}@guild>"
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
        return message

    def _send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            smtp.send_message(message)

    async def send(self, email: OutgoingEmail) -> None:
        if not self._host:
            raise ConnectionError("no SMTP host configured")
        await asyncio.to_thread(self._send, self._message(email))
