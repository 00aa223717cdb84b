from northstar.core.roles import AUDIT_READER_ROLES, Role, actor_for


def navigation(request):
    actor = actor_for(getattr(request, "user", None))
    return {
        "actor": actor,
        "can_read_audit": actor.has_role(*AUDIT_READER_ROLES),
        "can_import_people": actor.has_role(Role.ADMIN, Role.HR),
    }
