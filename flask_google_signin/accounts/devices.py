"""What the sessions page calls a device: "Firefox 133 on Ubuntu", from the User-Agent at sign-in.

Read by ua-parser, a maintained parser, not a home-made table; it is optional (the
`sessions-page` extra): without it every device is "Unknown browser".
"""

from __future__ import annotations

try:
    import ua_parser
except ModuleNotFoundError:  # the `sessions-page` extra is not installed
    ua_parser = None  # type: ignore[assignment]

UNKNOWN = "Unknown browser"


def describe_browser(user_agent: str) -> str:
    if ua_parser is None:
        return UNKNOWN
    parsed = ua_parser.parse(user_agent[:512])
    browser = parsed.user_agent.family if parsed.user_agent else UNKNOWN
    if parsed.user_agent and parsed.user_agent.major:
        browser = f"{browser} {parsed.user_agent.major}"
    system = parsed.os.family if parsed.os else "an unknown system"
    return f"{browser} on {system}"
