"""parse_ptype_offsets on GDB's ``ptype/o`` text: a struct with a nested
struct member, whose own total size GDB prints before the outer one's."""

from harness.targets.mmverify.kernel import parse_ptype_offsets

PROCESS = """\
/* offset      |    size */  type = struct process {
/*      0      |       4 */    uint32_t pid;
/*      4      |      48 */    struct shm_attachment shm[4];
/*     52      |      12 */    struct proc_limits {
/*     52      |       4 */        uint32_t as_pages;
/*     56      |       4 */        uint32_t resident_pages;
/*     60      |       4 */        uint32_t mappings;

                                   /* total size (bytes):   12 */
                               } limits;
/*     64      |       4 */    uint32_t cow_faults;

                               /* total size (bytes):   68 */
                             }
"""


def test_the_outer_total_size_is_the_structs_size():
    layout = parse_ptype_offsets(PROCESS, "process")
    assert layout.size == 68
    assert sorted(layout.fields) == ["cow_faults", "pid", "shm"]  # nested members are not ours
    assert (layout.fields["cow_faults"].offset, layout.fields["shm"].count) == (64, 4)


def test_decoding_reads_the_outer_fields_at_their_offsets():
    layout = parse_ptype_offsets(PROCESS, "process")
    data = (7).to_bytes(4, "little") + bytes(60) + (3).to_bytes(4, "little")
    assert layout.decode(data)["pid"] == 7 and layout.decode(data)["cow_faults"] == 3
