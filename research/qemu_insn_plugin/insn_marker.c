/*
 * A QEMU TCG plugin that counts the guest instructions a thread executes between two
 * marker system calls, for pi_vision's Cortex-A72 cost model (docs/a72_cost_model.md).
 *
 * The guest marks a region with getpid(2) called through syscall(2) with extra
 * arguments the kernel ignores:
 *     syscall(SYS_getpid, MARKER_MAGIC, MARKER_START, tag)   ... work ...
 *     syscall(SYS_getpid, MARKER_MAGIC, MARKER_STOP,  tag)
 * getpid is harmless everywhere (on a real Pi these calls are no-ops), glibc's
 * getpid() wrapper never sees them (it may be cached; syscall(2) is not), and the
 * 64-bit magic keeps a stray getpid from being taken for a marker.
 *
 * At every STOP the plugin appends one line to the file given by out=PATH and flushes
 * it, before the syscall returns, so the guest can read its own count right away:
 *     <tag> <instructions of the marking thread> <instructions of other threads>
 * "Other threads" is what the rest of the process executed in the same window (read
 * without locking, so approximate); the cost model expects 0 at 1 thread.
 *
 * Counting: every translation block, when it starts executing, adds its instruction
 * count to a per-vCPU counter (one vCPU = one guest thread in qemu-user). A block that
 * is left early (a fault in its middle) would be over-counted; the counted code does not
 * do that, and the result is deterministic either way. The marker's own svc is the last
 * instruction of its block, so a region holds the instructions after the START svc up
 * to and including the STOP svc: the guest measures an empty START/STOP pair to know
 * that fixed overhead.
 *
 * Built against include/qemu/qemu-plugin.h of the same QEMU version as the qemu-user
 * that loads it (build.sh). Plugin API version 1 (QEMU 7.2).
 */
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define SYS_GETPID_AARCH64 172
#define MARKER_MAGIC 0x7069766973696f6eULL /* "pivision" */
#define MARKER_START 1
#define MARKER_STOP 2
#define MAX_VCPUS 4096

/* Written only by the thread of that vCPU; read by the marking thread. */
static uint64_t insns[MAX_VCPUS];
static uint64_t start_own[MAX_VCPUS];
static uint64_t start_all[MAX_VCPUS];
static uint64_t start_tag[MAX_VCPUS];
static int open_region[MAX_VCPUS];
static unsigned int vcpus_seen;     /* highest vCPU index + 1 */
static int vcpu_overflow;           /* a vCPU index >= MAX_VCPUS ran: counts incomplete */
static FILE *out;
static GMutex out_lock;

/*
 * Optional (profile=PATH): per translation block, how often it ran inside each region,
 * written at every STOP as "<tag> <guest pc> <executions> <instructions per execution>",
 * to find what differs between two counts. Slower; for diagnosis only.
 */
struct block {
    uint64_t pc;
    uint64_t n_insns;
    uint64_t execs;   /* inside the open region of the profiled vCPU */
};
static FILE *profile;
static GPtrArray *blocks;
static GMutex blocks_lock;
static int profiled_vcpu = -1;

static void tb_exec(unsigned int vcpu, void *udata)
{
    if (vcpu < MAX_VCPUS) {
        __atomic_store_n(&insns[vcpu], insns[vcpu] + (uintptr_t)udata, __ATOMIC_RELAXED);
    } else {
        __atomic_store_n(&vcpu_overflow, 1, __ATOMIC_RELAXED);
    }
}

static void tb_exec_profiled(unsigned int vcpu, void *udata)
{
    struct block *b = udata;
    tb_exec(vcpu, (void *)(uintptr_t)b->n_insns);
    if ((int)vcpu == __atomic_load_n(&profiled_vcpu, __ATOMIC_RELAXED)) {
        b->execs++;
    }
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    if (profile == NULL) {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)n);
        return;
    }
    struct block *b = g_new0(struct block, 1);
    b->pc = qemu_plugin_tb_vaddr(tb);
    b->n_insns = n;
    g_mutex_lock(&blocks_lock);
    g_ptr_array_add(blocks, b);
    g_mutex_unlock(&blocks_lock);
    qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec_profiled, QEMU_PLUGIN_CB_NO_REGS, b);
}

static void dump_profile(uint64_t tag)
{
    g_mutex_lock(&blocks_lock);
    for (guint i = 0; i < blocks->len; i++) {
        struct block *b = g_ptr_array_index(blocks, i);
        if (b->execs) {
            fprintf(profile, "%" PRIu64 " %#" PRIx64 " %" PRIu64 " %" PRIu64 "\n", tag, b->pc, b->execs, b->n_insns);
            b->execs = 0;
        }
    }
    fflush(profile);
    g_mutex_unlock(&blocks_lock);
}

static void vcpu_init(qemu_plugin_id_t id, unsigned int vcpu)
{
    unsigned int seen = __atomic_load_n(&vcpus_seen, __ATOMIC_RELAXED);
    while (vcpu + 1 > seen &&
           !__atomic_compare_exchange_n(&vcpus_seen, &seen, vcpu + 1, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

static uint64_t all_insns(void)
{
    uint64_t sum = 0;
    unsigned int n = __atomic_load_n(&vcpus_seen, __ATOMIC_RELAXED);
    for (unsigned int i = 0; i < n && i < MAX_VCPUS; i++) {
        sum += __atomic_load_n(&insns[i], __ATOMIC_RELAXED);
    }
    return sum;
}

static void write_line(const char *line)
{
    g_mutex_lock(&out_lock);
    fputs(line, out);
    fflush(out);
    g_mutex_unlock(&out_lock);
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8)
{
    char line[160];

    if (num != SYS_GETPID_AARCH64 || a1 != MARKER_MAGIC || vcpu >= MAX_VCPUS) {
        return;
    }
    if (a2 == MARKER_START) {
        start_tag[vcpu] = a3;
        start_all[vcpu] = all_insns();
        start_own[vcpu] = __atomic_load_n(&insns[vcpu], __ATOMIC_RELAXED);
        open_region[vcpu] = 1;
        if (profile) {
            __atomic_store_n(&profiled_vcpu, (int)vcpu, __ATOMIC_RELAXED);
        }
    } else if (a2 == MARKER_STOP) {
        uint64_t own = __atomic_load_n(&insns[vcpu], __ATOMIC_RELAXED) - start_own[vcpu];
        uint64_t all = all_insns() - start_all[vcpu];
        if (!open_region[vcpu] || start_tag[vcpu] != a3) {
            snprintf(line, sizeof line, "error stop marker %" PRIu64 " without a matching start\n", a3);
        } else if (__atomic_load_n(&vcpu_overflow, __ATOMIC_RELAXED)) {
            snprintf(line, sizeof line, "error more than %d threads: counts incomplete\n", MAX_VCPUS);
        } else {
            snprintf(line, sizeof line, "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", a3, own,
                     all >= own ? all - own : 0);
        }
        open_region[vcpu] = 0;
        if (profile) {
            __atomic_store_n(&profiled_vcpu, -1, __ATOMIC_RELAXED);
            dump_profile(a3);
        }
        write_line(line);
    }
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
    char line[80];
    snprintf(line, sizeof line, "exit %" PRIu64 " instructions in all\n", all_insns());
    write_line(line);
    fclose(out);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    const char *path = NULL;

    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            path = argv[i] + 4;
        } else if (strncmp(argv[i], "profile=", 8) == 0) {
            profile = fopen(argv[i] + 8, "w");
            if (profile == NULL) {
                fprintf(stderr, "insn_marker: cannot open %s\n", argv[i] + 8);
                return -1;
            }
            blocks = g_ptr_array_new();
            g_mutex_init(&blocks_lock);
        } else {
            fprintf(stderr, "insn_marker: unknown argument %s; use out=PATH[,profile=PATH]\n", argv[i]);
            return -1;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "insn_marker: missing out=PATH (where the counts are written)\n");
        return -1;
    }
    if (strcmp(info->target_name, "aarch64") != 0) {
        fprintf(stderr, "insn_marker: built for aarch64 guests, not %s\n", info->target_name);
        return -1;
    }
    out = fopen(path, "a");
    if (out == NULL) {
        fprintf(stderr, "insn_marker: cannot open %s\n", path);
        return -1;
    }
    g_mutex_init(&out_lock);
    qemu_plugin_register_vcpu_init_cb(id, vcpu_init);
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
