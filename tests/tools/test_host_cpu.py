"""The host-CPU line the benchmark prints: which kind of CPU its numbers come from."""

from d3d_jax.tools import host_cpu

# The first lines of /proc/cpuinfo on the dev VM (family 25 model 1, AVX2; flags
# shortened), and an AVX-512 CPU of the same model name.
_PROCESSOR = """processor	: {index}
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 1
model name	: AMD EPYC
stepping	: 1
flags		: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx avx2 bmi2
"""
ZEN3 = "\n".join(_PROCESSOR.format(index=i) for i in range(2))
AVX512 = ZEN3.replace("model		: 1", "model		: 17").replace(
    "avx2 bmi2", "avx2 bmi2 avx512f avx512bw")


def test_names_model_family_isa_l3_and_logical_cpus():
  assert host_cpu.describe(ZEN3, "32768K") == (
      "AMD EPYC, family 25 model 1 stepping 1, vector ISA AVX2, L3 32768K, 2 logical CPUs")


def test_avx512_is_told_apart_under_the_same_model_name():
  assert host_cpu.describe(AVX512, "32768K") == (
      "AMD EPYC, family 25 model 17 stepping 1, vector ISA AVX-512, L3 32768K, "
      "2 logical CPUs")


def test_vector_isa_is_the_widest_whose_flags_are_all_present():
  assert host_cpu.vector_isa({"avx", "avx2"}) == "AVX"  # AVX2 also needs fma.
  assert host_cpu.vector_isa({"sse4_2"}) == "SSE4.2"
  assert host_cpu.vector_isa(set()) == "none listed"


def test_without_x86_cpuinfo_it_says_so():
  assert host_cpu.describe("", "").endswith(
      "(no x86 /proc/cpuinfo to read the vector ISA from)")
