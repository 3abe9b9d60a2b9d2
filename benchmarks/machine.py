"""What machine a benchmark ran on, for every results file (DESIGN.md, "Hosts differ": the same build
measured 30 us a row on one host and 84 us on another, so a figure without its CPU is not comparable)."""
from __future__ import annotations

import os
import platform
from pathlib import Path

VECTOR_PREFIXES = ("avx", "sse", "fma", "bmi")


def machine() -> dict[str, object]:
    """CPU model (with family/model numbers: virtual machines often report only "AMD EPYC"), cores and the
    vector extensions the CPU flags list."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name", platform.processor() or "unknown")
    return {"cpu_model": f"{name} (family {fields.get('cpu family', '?')}, model {fields.get('model', '?')})",
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "vector_extensions": sorted(f for f in fields.get("flags", "").split() if f.startswith(VECTOR_PREFIXES))}
