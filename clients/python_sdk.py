"""Drives the unmodified mParticle Python server SDK (PyPI mparticle==0.16.1)
against a custos server: one single upload and one bulk upload.

Usage: python_sdk.py BASE_URL KEY SECRET
(or the environment variables CUSTOS_URL, CUSTOS_KEY and CUSTOS_SECRET).
BASE_URL is the server's root, e.g. http://127.0.0.1:8080; the SDK host is BASE_URL/v2.

Prints one JSON report on stdout and exits non-zero if any upload failed.
"""

import importlib.metadata
import json
import os
import sys
import time
import uuid

import mparticle


def argument(index, variable):
    if len(sys.argv) > index:
        return sys.argv[index]
    value = os.environ.get(variable)
    if not value:
        sys.exit(f"usage: python_sdk.py BASE_URL KEY SECRET (or set {variable})")
    return value


BASE_URL = argument(1, "CUSTOS_URL").rstrip("/")
KEY = argument(2, "CUSTOS_KEY")
SECRET = argument(3, "CUSTOS_SECRET")
RUN = uuid.uuid4().hex[:8]
USER_ATTRIBUTES = {"plan": "gold", "age": 30, "vip": True, "tags": ["a", "b"]}


def make_user(index, ccpa_opt_out):
    customer_id = f"py-sdk-{RUN}-{index}"
    return {
        "customerid": customer_id,
        "email": f"{customer_id}@example.com",
        "user_attributes": dict(USER_ATTRIBUTES, index=str(index)),
        "ccpa_data_sale_opt_out": ccpa_opt_out,
    }


def make_batch(user):
    now = int(time.time() * 1000)
    batch = mparticle.Batch()
    batch.environment = "development"
    batch.source_request_id = str(uuid.uuid4())
    batch.user_identities = mparticle.UserIdentities()
    batch.user_identities.customerid = user["customerid"]
    batch.user_identities.email = user["email"]
    batch.user_attributes = user["user_attributes"]

    ccpa = mparticle.CCPAConsentState()
    ccpa.document = "ccpa-doc-v1"
    ccpa.consented = user["ccpa_data_sale_opt_out"]
    ccpa.timestamp_unixtime_ms = now
    ccpa.location = "https://example.com/privacy"
    ccpa.hardware_id = "hw-python"
    consent = mparticle.ConsentState()
    consent.ccpa = {"data_sale_opt_out": ccpa}
    batch.consent_state = consent

    custom = mparticle.AppEvent(
        event_name="py_sdk_custom",
        custom_event_type="navigation",
        timestamp_unixtime_ms=now,
        source_message_id=str(uuid.uuid4()),
        custom_attributes={"run": RUN, "user": user["customerid"]},
    )
    screen = mparticle.ScreenViewEvent(timestamp_unixtime_ms=now)
    screen.screen_name = "home"
    batch.events = [custom, screen]
    return batch


def upload(name, call, batches):
    """Runs one SDK call; returns its report entry."""
    entry = {
        "call": name,
        "batches": len(batches),
        "events": sum(len(b.events) for b in batches),
    }
    try:
        _, status, _ = call()
        entry["status"] = status
        entry["ok"] = 200 <= status < 300
    except mparticle.rest.ApiException as error:
        entry["status"] = error.status
        entry["ok"] = False
        entry["error"] = f"{error.reason}: {error.body}"
    except Exception as error:  # A connection failure, for instance.
        entry["status"] = None
        entry["ok"] = False
        entry["error"] = repr(error)
    return entry


def main():
    configuration = mparticle.Configuration()
    configuration.api_key = KEY
    configuration.api_secret = SECRET
    # Before EventsApi: its ApiClient copies the host once.
    configuration.host = f"{BASE_URL}/v2"
    api = mparticle.EventsApi(configuration)

    users = [make_user(0, True), make_user(1, False), make_user(2, True)]
    single = [make_batch(users[0])]
    bulk = [make_batch(users[1]), make_batch(users[2])]
    calls = [
        upload(
            "upload_events_with_http_info",
            lambda: api.upload_events_with_http_info(single[0]),
            single,
        ),
        upload(
            "bulk_upload_events_with_http_info",
            lambda: api.bulk_upload_events_with_http_info(bulk),
            bulk,
        ),
    ]
    ok = all(c["ok"] for c in calls)
    report = {
        "client": "python",
        "sdk": "mparticle " + importlib.metadata.version("mparticle"),
        "host": configuration.host,
        "run": RUN,
        "ok": ok,
        "calls": calls,
        "batches": sum(c["batches"] for c in calls),
        "events": sum(c["events"] for c in calls),
        "users": users,
    }
    print(json.dumps(report))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
