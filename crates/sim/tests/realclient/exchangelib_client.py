"""Drives the exbridge simulator with exchangelib, a real EWS client nobody here wrote.

Usage: python exchangelib_client.py EWS_URL CONTROL_URL SERVICE_USER SERVICE_PASSWORD MAILBOX

Basic auth and impersonation, no autodiscover. Each step prints `ok <step>`; any failure raises,
and the process exits non-zero. The Rust test (tests/real_client.rs) starts the simulator and
checks that every step printed ok.
"""
import datetime
import json
import sys
import threading
import urllib.request

from exchangelib import (
    BASIC,
    IMPERSONATION,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    Version,
)

ews_url, control_url, service_user, service_password, mailbox = sys.argv[1:6]

config = Configuration(
    service_endpoint=ews_url,
    credentials=Credentials(service_user, service_password),
    auth_type=BASIC,
    version=Version(build=Build(15, 1, 2507, 6), api_version="Exchange2016"),
    max_connections=4,
)
tz = EWSTimeZone("Europe/Berlin")
account = Account(mailbox, config=config, autodiscover=False, access_type=IMPERSONATION, default_timezone=tz)


def step(name):
    print(f"ok {name}", flush=True)


# 1. A calendar view: recurring series come back expanded.
now = EWSDateTime.now(tz=tz)
start = now - datetime.timedelta(days=30)
end = now + datetime.timedelta(days=60)
view = list(account.calendar.view(start=start, end=end))
assert view, "the seeded calendar view is empty"
assert all(i.start < end and i.end > start for i in view), "an item outside the view window"
types = {i.type for i in view}
assert "Occurrence" in types or "Exception" in types, f"no expanded occurrences in the view: {types}"
step(f"calendar_view {len(view)} items {sorted(types)}")

# 2. Create, update, delete.
item = CalendarItem(
    account=account,
    folder=account.calendar,
    subject="exchangelib conformance",
    body="created by exchangelib",
    start=now + datetime.timedelta(days=1),
    end=now + datetime.timedelta(days=1, hours=1),
    location="Room 1",
)
item.save()
assert item.id and item.changekey, "create returned no id"
first_key = item.changekey
step("create")
item.subject = "exchangelib conformance (updated)"
item.save(update_fields=["subject"])
assert item.changekey != first_key, "ChangeKey did not change on update"
fetched = account.calendar.get(id=item.id)
assert fetched.subject == "exchangelib conformance (updated)", fetched.subject
step("update")
item.delete()
step("delete")

# 3. Out-of-office settings.
oof = account.oof_settings
assert oof.state in ("Enabled", "Disabled", "Scheduled"), oof.state
step(f"oof {oof.state}")

# 4. SyncFolderItems: a full sync, then an incremental one that sees a new item.
full = list(account.calendar.sync_items())
assert full, "initial sync returned no changes"
state = account.calendar.item_sync_state
probe = CalendarItem(
    account=account,
    folder=account.calendar,
    subject="sync probe",
    start=now + datetime.timedelta(days=2),
    end=now + datetime.timedelta(days=2, hours=1),
)
probe.save()
incremental = list(account.calendar.sync_items(sync_state=state))
kinds = [c for c, _ in incremental]
assert "create" in kinds, f"incremental sync missed the new item: {kinds}"
step(f"sync_items {len(full)} then {kinds}")
probe.delete()

# 5. Streaming notification for a change made through the control API.
subscription_id = account.calendar.subscribe_to_streaming()


def make_change():
    body = json.dumps(
        {
            "subject": "made through the control API",
            "start": (now + datetime.timedelta(days=3)).isoformat(),
            "end": (now + datetime.timedelta(days=3, hours=1)).isoformat(),
        }
    ).encode()
    req = urllib.request.Request(
        f"{control_url}/sim/mailboxes/{mailbox}/items",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(req, timeout=10).read()


timer = threading.Timer(1.0, make_change)
timer.start()
seen = []
for notification in account.calendar.get_streaming_events(subscription_id, connection_timeout=1):
    seen.extend(type(e).__name__ for e in notification.events)
    if any(name in ("CreatedEvent", "ModifiedEvent") for name in seen):
        break
timer.join()
assert any(name == "CreatedEvent" for name in seen), f"no CreatedEvent received: {seen}"
account.calendar.unsubscribe(subscription_id)
step(f"streaming {seen}")
print("all steps ok", flush=True)
