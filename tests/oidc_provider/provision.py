"""Create the provider's user and client: run in the provider's process (OIDC_PROVIDER_*).

python -m tests.oidc_provider.provision <redirect uri> <client id> <client secret>
<username> <password> <email> [group ...]
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.oidc_provider.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402


def main() -> None:
    redirect_uri, client_id, secret, username, password, email, *groups = sys.argv[1:]
    call_command("migrate", verbosity=0)
    Application.objects.update_or_create(
        client_id=client_id,
        defaults={
            "name": "MLOps maturity",
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "client_secret": secret,
            "redirect_uris": redirect_uri,
            "algorithm": Application.RS256_ALGORITHM,
            "skip_authorization": True,
        },
    )
    user, _ = User.objects.get_or_create(username=username, defaults={"email": email})
    user.email = email
    user.set_password(password)
    user.save()
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in groups])


if __name__ == "__main__":
    main()
