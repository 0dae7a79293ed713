"""The machine record every report carries: a bare hypervisor model name still leaves the core identifiable."""
from keras_ssl.base.machine import machine_info, machine_line

# The first block of /proc/cpuinfo on a KVM guest of an AMD EPYC with AVX-512 (Zen 4), trimmed.
AMD_KVM = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16

processor\t: 1
cpu family\t: 23
"""

# An ARM core's block (Neoverse N1 numbering).
ARM = """processor\t: 0
Features\t: fp asimd asimddp
CPU implementer\t: 0x41
CPU part\t: 0xd0c
"""


def test_the_record_names_family_model_and_the_speed_flags(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(AMD_KVM)
    info = machine_info(str(path))
    assert info["cpu"] == "AMD EPYC" and info["cpu_id"] == "family 25, model 17"  # the first processor's block
    assert info["isa"] == ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16"]
    assert machine_line(info).startswith("AMD EPYC (family 25, model 17; ")


def test_arm_cores_are_named_by_implementer_and_part(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(ARM)
    info = machine_info(str(path))
    assert info["cpu_id"] == "implementer 0x41, part 0xd0c" and info["isa"] == ["asimd", "asimddp"]


def test_a_report_from_before_cpu_id_still_reads(tmp_path):
    old = {"cpu": "Intel Xeon", "isa": ["avx2"], "cores": 2}
    assert machine_line(old) == "Intel Xeon (2 cores; avx2)"
    missing = machine_info(str(tmp_path / "absent"))
    assert missing["cpu_id"] is None and "cores" in machine_line(missing)
