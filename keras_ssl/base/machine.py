"""The machine a number was measured on: CPU model, the ISA flags int8 speed depends on, cores.

int8 speed is a property of the CPU as much as of the model: the same digits int8 artifact ran at 0.55-0.70x the
speed of float32 on an AVX2-only AMD EPYC and 1.8x faster on a CPU with VNNI.  Every report carries this record.
Under a hypervisor the model name can be as bare as "AMD EPYC", shared by generations with and without AVX-512, so
the record also keeps the CPU's family and model numbers (x86) or implementer and part (ARM), which name the core.
"""
import importlib.metadata
import os
import platform

# Flags that decide which int8/float kernels XNNPACK and oneDNN can use (names as /proc/cpuinfo spells them).
SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
               "amx_int8", "amx_bf16", "asimd", "asimddp", "i8mm", "sve")


def _cpuinfo_fields(path="/proc/cpuinfo"):
    """The first processor's "key: value" lines of ``path`` (Linux), or {} where there is no such file."""
    fields = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block ends at the first blank line
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        return {}
    return fields


def _cpu_id(fields):
    """ "family 25, model 17" (x86) or "implementer 0x41, part 0xd0c" (ARM) from cpuinfo fields, or None."""
    for first, second in (("cpu family", "model"), ("CPU implementer", "CPU part")):
        if first in fields and second in fields:
            return f"{first.split()[-1]} {fields[first]}, {second.split()[-1]} {fields[second]}"
    return None


def machine_info(cpuinfo_path="/proc/cpuinfo"):
    """{"cpu": model name, "cpu_id": family and model numbers, "isa": the SPEED_FLAGS present, "cores": usable
    cores, "arch": machine, "versions": runtime_versions()} for reports and manifests."""
    fields = _cpuinfo_fields(cpuinfo_path)
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": fields.get("model name") or platform.processor() or "unknown", "cpu_id": _cpu_id(fields),
            "isa": [flag for flag in SPEED_FLAGS if flag in flags], "cores": cores, "arch": platform.machine(),
            "versions": runtime_versions()}


# The packages whose versions decide what an artifact is and how fast it runs (distribution names).
RUNTIME_PACKAGES = ("tensorflow", "tf-keras", "tensorflow-model-optimization", "ai-edge-litert", "mediapipe",
                    "onnxruntime")


def runtime_versions():
    """{package: version} of the converter and runtimes installed here (missing ones are left out)."""
    versions = {}
    for name in RUNTIME_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def machine_line(info=None):
    """One line for people: "AMD EPYC (family 25, model 17; 2 cores; avx2 avx512_vnni ...)"."""
    info = machine_info() if info is None else info
    cpu_id = f"{info['cpu_id']}; " if info.get("cpu_id") else ""  # reports from before cpu_id have none
    return f"{info['cpu']} ({cpu_id}{info['cores']} cores; {' '.join(info['isa']) or 'no listed SIMD flags'})"
