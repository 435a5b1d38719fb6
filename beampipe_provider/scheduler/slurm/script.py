"""Job scripts: a command or a script body, with parameters exported as quoted environment variables."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from beampipe_provider.scheduler.base import InvalidJobOption

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def job_script(
    *, script: str | None = None, command: str | None = None, env: Mapping[str, object] | None = None
) -> str:
    """The batch script. Exports go after the shebang and #SBATCH header, since Slurm stops reading directives at
    the first command; every value is shell-quoted, so a parameter can never run as code."""
    if (script is None) == (command is None):
        raise InvalidJobOption("script", "give exactly one of script or command")
    body = script if script is not None else f"#!/bin/bash\n{command}\n"
    if not body.startswith("#!"):
        raise InvalidJobOption("script", "must start with an interpreter line such as #!/bin/bash")
    exports = []
    for name, value in sorted((env or {}).items()):
        if not _ENV_NAME.fullmatch(name):
            raise InvalidJobOption(f"parameters.{name}", "not a valid environment variable name")
        exports.append(f"export {name}={shlex.quote(str(value))}")
    if not exports:
        return body
    lines = body.splitlines()
    header = 1
    while header < len(lines) and (not lines[header].strip() or lines[header].lstrip().startswith("#")):
        header += 1
    return "\n".join([*lines[:header], *exports, *lines[header:]]) + "\n"
