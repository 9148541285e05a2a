from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "evidence"
    verbose_name = "Evidence"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from evidence import services
        from evidence.models import EvidenceToken, Exemption
        from maturity.signals import framework_checks_updated

        framework_checks_updated.connect(services.on_checks_updated, dispatch_uid="evidence")
        auditlog.register(Exemption)
        auditlog.register(EvidenceToken, exclude_fields=["key_hash", "last_used_at"])
