"""exchangelib side of the exbridge benchmark: CalendarView of every mailbox, C threads.

Usage: python calendar_view.py EWS_URL USER PASSWORD DOMAIN N CONCURRENCY START END

Mailboxes user1@DOMAIN .. userN@DOMAIN, Basic auth and impersonation, no autodiscover; START and
END are RFC 3339 UTC times. Prints one JSON line: {"mailboxes", "items", "errors", "seconds"},
the time covering the fetch alone (not the interpreter's start).
"""
import concurrent.futures
import datetime
import json
import sys
import time

from exchangelib import BASIC, IMPERSONATION, Account, Build, Configuration, Credentials, EWSDateTime, EWSTimeZone, Version

ews_url, user, password, domain, n, concurrency, start, end = sys.argv[1:9]
n, concurrency = int(n), int(concurrency)

utc = EWSTimeZone("UTC")


def parse(s):
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
    return EWSDateTime(d.year, d.month, d.day, d.hour, d.minute, d.second, tzinfo=utc)


start, end = parse(start), parse(end)
config = Configuration(
    service_endpoint=ews_url,
    credentials=Credentials(user, password),
    auth_type=BASIC,
    version=Version(build=Build(15, 1, 2507, 6), api_version="Exchange2016"),
    max_connections=concurrency,
)


def fetch(k):
    account = Account(f"user{k}@{domain}", config=config, autodiscover=False, access_type=IMPERSONATION, default_timezone=utc)
    return len(list(account.calendar.view(start=start, end=end)))


began = time.monotonic()
items = errors = 0
with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
    for f in concurrent.futures.as_completed([pool.submit(fetch, k) for k in range(1, n + 1)]):
        try:
            items += f.result()
        except Exception as e:  # counted and reported; the first few are printed
            errors += 1
            if errors <= 3:
                print(f"error: {e!r}", file=sys.stderr)
seconds = time.monotonic() - began
print(json.dumps({"mailboxes": n, "items": items, "errors": errors, "seconds": seconds}))
