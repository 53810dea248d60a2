"""parse_ptype_offsets on GDB's ``ptype/o`` text: a struct with a nested
struct member, whose own total size GDB prints before the outer one's, and
one whose first member is a nested struct."""

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
    # limits is one field of 12 bytes; its members (as_pages...) are not ours
    assert sorted(layout.fields) == ["cow_faults", "limits", "pid", "shm"]
    assert (layout.fields["cow_faults"].offset, layout.fields["shm"].count) == (64, 4)
    limits = layout.fields["limits"]
    assert (limits.offset, limits.size, limits.ctype, limits.nested) == (
        52, 12, "struct proc_limits", True)


def test_decoding_reads_the_outer_fields_at_their_offsets():
    layout = parse_ptype_offsets(PROCESS, "process")
    data = (7).to_bytes(4, "little") + bytes(60) + (3).to_bytes(4, "little")
    assert layout.decode(data)["pid"] == 7 and layout.decode(data)["cow_faults"] == 3
    assert "limits" not in layout.decode(data)  # a nested struct: read by its own layout


# struct process since the address space moved into its first member: the
# first line with an offset is the nested struct's, deeper ones follow.
NESTED_FIRST = """\
/* offset      |    size */  type = struct process {
/*      0      |       8 */    struct mm {
/*      0      |       4 */        paddr_t cr3;
/*      4      |       4 */        struct numa_policy {
/*      4      |       1 */            uint8_t mode;
/*      5      |       1 */            uint8_t nodes;
/*      6      |       1 */            uint8_t next;
/*      7      |       1 */            uint8_t pad;

                                       /* total size (bytes):    4 */
                                   } mempolicy;

                                   /* total size (bytes):    8 */
                               } mm;
/*      8      |       4 */    uint32_t pid;
/*     12      |       8 */    struct file *files[2];

                               /* total size (bytes):   16 */
                             }
"""


def test_a_nested_struct_first_is_one_field_and_the_rest_still_counts():
    layout = parse_ptype_offsets(NESTED_FIRST, "process")
    assert layout.size == 16
    assert sorted(layout.fields) == ["files", "mm", "pid"]
    assert (layout.fields["mm"].offset, layout.fields["mm"].size) == (0, 8)
    assert (layout.fields["pid"].offset, layout.fields["files"].count) == (8, 2)
    data = bytes(range(8)) + (5).to_bytes(4, "little") + bytes(8)
    assert layout.decode(data) == {"pid": 5, "files": [0, 0]}  # mm by its own layout
