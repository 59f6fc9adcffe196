"""The old name of `service.api.running_service`, kept only for `service/api/abandoned.py` and
`service/api/stats.py`, which are being changed in parallel: when that work lands their imports
move to `service.api.running_service` and this module is deleted."""

from service.api.running_service import ApiServices, services_of

__all__ = ["ApiServices", "services_of"]
