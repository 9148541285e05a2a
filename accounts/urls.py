"""Accounts: password reset and change (Django's views, our templates and one rule), and
the profile (name and time zone).

People added by e-mail (the console's membership import) get an account without a usable
password. Django's reset form e-mails only accounts that have one; ours e-mails every active
account of the address, so "Forgot your password?" is how such a person sets their first
password (owning the mailbox is the proof, as for any reset).
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import oidc, views
from accounts.forms import PasswordResetForm

urlpatterns = [
    path("profile/", views.profile, name="profile"),
    path("oidc/authenticate/", oidc.SignInView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", oidc.CallbackView.as_view(), name="oidc_authentication_callback"),
    path("signup/", views.sign_up, name="signup"),
    path("verify/<uidb64>/<token>/", views.verify, name="account-verify"),
    path(
        "password-reset/",
        views.PasswordResetView.as_view(form_class=PasswordResetForm),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "password-change/",
        auth_views.PasswordChangeView.as_view(success_url=reverse_lazy("password_change_done")),
        name="password_change",
    ),
    path(
        "password-change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]
