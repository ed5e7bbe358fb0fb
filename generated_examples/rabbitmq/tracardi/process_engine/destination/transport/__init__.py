"""Delivery machinery shared by every destination rendered from tracardi-destination-template.

A checkout holds one copy, whatever number of destinations it has: each connector module keeps
its own models and hands its records to its transport's module here (one per transport), and
every destination of a transport shares that module's connections and outage state. The
template writes these files, the same bytes for every destination of one template version.
"""

RUNTIME_VERSION = "1.0.0"


class RuntimeVersionError(ImportError):
    """A connector needs a runtime this checkout does not hold."""


def _parts(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def require_runtime(version: str, connector_file: str) -> None:
    """Refuse to import a connector rendered for a runtime this one cannot stand in for.

    A runtime serves every connector of its major version rendered for it or an older one, so
    rendering a newer destination (which brings a newer runtime) never breaks an older one.
    """
    have, need = _parts(RUNTIME_VERSION), _parts(version)
    if have[0] == need[0] and have >= need:
        return
    module = connector_file.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".py").removesuffix("_connector")
    answers = f".copier-answers.destination-{module}.yml"
    runtime = f"tracardi/process_engine/destination/transport/ holds the transport runtime {RUNTIME_VERSION}"
    if have[0] > need[0]:
        raise RuntimeVersionError(
            f"{connector_file} was rendered for the runtime {version}, but {runtime}, which no longer serves it. "
            f"Update the destination, in the checkout: copier update --answers-file {answers}"
        )
    # The runtime files were kept when a newer destination was rendered: render them again from
    # that destination's template version, leaving its own files as they are.
    raise RuntimeVersionError(
        f"{connector_file} needs the runtime {version} or a newer {need[0]}.x, but {runtime}. "
        f"Bring the runtime up to date, in the checkout: copier recopy --defaults --overwrite --vcs-ref :current: "
        f"--exclude '*{module}*' --answers-file {answers}"
    )
