"""Environment variables that would run or load code before (or around) the program.

A runtime's own variables are refused under these names: the loader, the interpreters and the
C library read them at start, before the program's first line, so they could load a project
file (a shared object, a module, a script) ahead of the limits or change what the platform
runs. Chosen from what each supported language reads: the dynamic loader and glibc (the
`unsecvars` list glibc itself drops for setuid programs, plus the malloc and tunables
switches), python, node, bash/dash, OpenSSL (configuration can load engines), and the usual
hooks of perl, ruby and the JVM for images that add them.
"""

from __future__ import annotations

# Any name starting with one of these.
HOOK_PREFIXES = ("LD_", "MALLOC_", "BASH_", "NODE_", "PYTHON", "PERL", "RUBY")

# Exact names.
HOOK_NAMES = frozenset(
    {
        # glibc: loader, iconv modules, locale data, resolver files, tunables (CVE-2023-4911).
        "GCONV_PATH",
        "GETCONF_DIR",
        "GLIBC_TUNABLES",
        "HOSTALIASES",
        "LOCALDOMAIN",
        "LOCPATH",
        "NIS_PATH",
        "NLSPATH",
        "RESOLV_HOST_CONF",
        "RES_OPTIONS",
        "TZDIR",
        # sh/bash start-up files and options (ENV: interactive sh; PS4 runs with `set -x`).
        "ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "PROMPT_COMMAND",
        "IFS",
        "CDPATH",
        "GLOBIGNORE",
        "EXECIGNORE",
        # OpenSSL loads engines/providers named by its configuration.
        "OPENSSL_CONF",
        "OPENSSL_ENGINES",
        "OPENSSL_MODULES",
        # JVM agents.
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS",
    }
)

# Harmless switches under a refused prefix that programs commonly set.
ALLOWED = frozenset(
    {
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONIOENCODING",
        "PYTHONUTF8",
        "PYTHONHASHSEED",
        "PYTHONFAULTHANDLER",
        "PYTHONOPTIMIZE",
        "PYTHONSAFEPATH",
        "PYTHONNOUSERSITE",
        "NODE_ENV",
        "NODE_NO_WARNINGS",
        "NODE_DEBUG",
        "NODE_EXTRA_CA_CERTS",
    }
)


def is_hook(name: str) -> bool:
    """Whether `name` is a loader or interpreter hook (case-sensitive, as the programs read it)."""
    if name in ALLOWED:
        return False
    return name in HOOK_NAMES or name.startswith(HOOK_PREFIXES)
