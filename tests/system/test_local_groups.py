"""`make run`'s local mode offers Workspace groups without a Workspace: a labelled stand-in for the Cloud
Identity API and the service account's token endpoint (scripts/local_groups.py), answering from
scripts/local_groups.json. The extension asks it as it asks Google: a key file, a signed assertion, the
same API calls. alice is in admins@example.com (ADMIN_GROUP), bob is not."""

from __future__ import annotations

import pytest

from ..servers import Browser

pytestmark = pytest.mark.slow


def test_admin_opens_for_a_member_of_the_sample_group_only(make_run):
    alice = Browser()
    alice.sign_in(make_run.url, "alice")
    page = alice.get(f"{make_run.url}/admin")
    assert page.status_code == 200, page.text[:500]
    assert "admins@example.com" in page.text and "Sample groups" in page.text
    bob = Browser()
    bob.sign_in(make_run.url, "bob")
    refused = bob.get(f"{make_run.url}/admin")
    assert refused.status_code == 403
    assert bob.get(f"{make_run.url}/profile").status_code == 200  # the rest of the site stays his
