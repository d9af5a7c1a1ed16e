/*
 * mm.c - a page allocator over the free pages of the initial mapping and
 * a small heap on top of it.
 *
 * Xen's start-of-day layout (xen.h) maps pseudo-physical frames 0.. one to
 * one from VIRT_BASE: kernel, modules, p2m list, start_info, store and
 * console rings, bootstrap page tables, boot stack, and then at least
 * 512 KiB more, up to a 4 MiB boundary.  Those trailing frames are free:
 * they are the pool here (a bitmap, one bit per frame, set = free).
 *
 * The heap serves requests up to 2 KiB from power-of-two size classes
 * carved out of whole pages, and larger ones as runs of contiguous pages;
 * every block carries a 16-byte header saying which.
 */
#include <paravirt/pv.h>

#include "internal.h"

#define PAGE_SIZE PV_PAGE_SIZE
#define INITIAL_PADDING (512UL * 1024)
#define MAP_ALIGN (4UL << 20)

/* Frames [pool_first, pool_first + pool_count), mapped from pool_base. */
static unsigned long pool_first, pool_count, pool_free;
static char *pool_base;
#define POOL_MAX_PAGES (64UL * 1024)        /* 256 MiB of initial mapping at most */
static uint64_t pool_bitmap[POOL_MAX_PAGES / 64];
struct free_block;
#define NR_CLASSES_FWD 7
static struct free_block *free_lists[NR_CLASSES_FWD];

/*
 * Free frames of the initial mapping for a domain of nr_pages frames whose
 * boot stack is frame stack_pfn: [stack_pfn + 1, end) where the mapping
 * ends 512 KiB past the stack's end, rounded up to a 4 MiB boundary of the
 * virtual address (Xen's alloc_pgtables rule), clipped to nr_pages.
 */
void pv_mm_pool_range(unsigned long stack_pfn, unsigned long nr_pages,
                      unsigned long *first, unsigned long *count)
{
    unsigned long start = stack_pfn + 1;
    unsigned long want = PV_VIRT_BASE + (start << PV_PAGE_SHIFT) + INITIAL_PADDING;
    unsigned long map_end = ((want | (MAP_ALIGN - 1)) + 1 - PV_VIRT_BASE) >> PV_PAGE_SHIFT;
    if (map_end > nr_pages)
        map_end = nr_pages;
    if (map_end - start > POOL_MAX_PAGES)
        map_end = start + POOL_MAX_PAGES;
    *first = start;
    *count = map_end > start ? map_end - start : 0;
}

void pv_mm_set_pool(void *base, unsigned long first_pfn, unsigned long count)
{
    pool_base = base;
    pool_first = first_pfn;
    pool_count = count > POOL_MAX_PAGES ? POOL_MAX_PAGES : count;
    memset(pool_bitmap, 0, sizeof(pool_bitmap));
    for (unsigned long i = 0; i < pool_count; i++)
        pool_bitmap[i / 64] |= 1ULL << (i % 64);
    pool_free = pool_count;
    memset(free_lists, 0, sizeof(free_lists));
}

void pv_mm_init(const start_info_t *si)
{
    pv_mm_set_pool(NULL, 0, 0);
    if (si->pt_base < PV_VIRT_BASE || si->nr_pt_frames > si->nr_pages)
        return;
    /* The boot stack is the frame after the bootstrap page tables. */
    unsigned long stack_pfn = ((si->pt_base - PV_VIRT_BASE) >> PV_PAGE_SHIFT) + si->nr_pt_frames;
    unsigned long first, count;
    pv_mm_pool_range(stack_pfn, si->nr_pages, &first, &count);
    pv_mm_set_pool((void *)(PV_VIRT_BASE + (first << PV_PAGE_SHIFT)), first, count);
}

static void *pool_va(unsigned long i)
{
    return pool_base + i * PAGE_SIZE;
}

void *pv_pages_alloc(size_t n)
{
    if (n == 0 || n > pool_free)
        return NULL;
    /* First fit over the bitmap. */
    unsigned long run = 0;
    for (unsigned long i = 0; i < pool_count; i++) {
        if (pool_bitmap[i / 64] & (1ULL << (i % 64))) {
            if (++run == n) {
                unsigned long first = i + 1 - n;
                for (unsigned long j = first; j <= i; j++)
                    pool_bitmap[j / 64] &= ~(1ULL << (j % 64));
                pool_free -= n;
                void *va = pool_va(first);
                memset(va, 0, n * PAGE_SIZE);
                return va;
            }
        } else {
            run = 0;
        }
    }
    return NULL;
}

void *pv_page_alloc(void)
{
    return pv_pages_alloc(1);
}

void pv_pages_free(void *pages, size_t n)
{
    char *va = pages;
    if (pages == NULL || ((unsigned long)va & (PAGE_SIZE - 1)) != 0)
        pv_panic("pv_pages_free: bad address %p", pages);
    if (va < pool_base || n == 0 || (unsigned long)(va - pool_base) / PAGE_SIZE + n > pool_count)
        pv_panic("pv_pages_free: %p (+%lu pages) is not from the page pool", pages, (unsigned long)n);
    unsigned long first = (unsigned long)(va - pool_base) / PAGE_SIZE;
    for (unsigned long i = first; i < first + n; i++) {
        if (pool_bitmap[i / 64] & (1ULL << (i % 64)))
            pv_panic("pv_pages_free: double free of %p", pool_va(i));
        pool_bitmap[i / 64] |= 1ULL << (i % 64);
    }
    pool_free += n;
}

void pv_page_free(void *page)
{
    pv_pages_free(page, 1);
}

size_t pv_pages_free_count(void)
{
    return pool_free;
}

/* ---- Heap. */
#define HEAP_MAGIC   0x70766865u    /* "pvhe" */
#define MIN_SHIFT    5              /* 32-byte blocks (16 header + 16 data) */
#define MAX_SHIFT    11             /* 2 KiB blocks */
#define NR_CLASSES   (MAX_SHIFT - MIN_SHIFT + 1)
#define LARGE_CLASS  0xffu

struct block_header {
    uint32_t magic;
    uint8_t  cls;           /* size class, or LARGE_CLASS */
    uint8_t  free;
    uint16_t pad;
    uint64_t pages;         /* large blocks: pages in the run */
};
_Static_assert(sizeof(struct block_header) == 16, "16-byte header keeps data 16-aligned");

struct free_block {
    struct block_header h;
    struct free_block *next;
};

_Static_assert(NR_CLASSES == NR_CLASSES_FWD, "size classes");

static bool refill(unsigned int cls)
{
    char *page = pv_page_alloc();
    if (page == NULL)
        return false;
    size_t bs = (size_t)1 << (cls + MIN_SHIFT);
    for (size_t off = 0; off + bs <= PAGE_SIZE; off += bs) {
        struct free_block *b = (struct free_block *)(page + off);
        b->h = (struct block_header){ .magic = HEAP_MAGIC, .cls = (uint8_t)cls, .free = 1 };
        b->next = free_lists[cls];
        free_lists[cls] = b;
    }
    return true;
}

void *pv_malloc(size_t size)
{
    if (size == 0)
        size = 1;
    if (size > ((size_t)1 << 40))
        return NULL;
    size_t need = size + sizeof(struct block_header);
    if (need > ((size_t)1 << MAX_SHIFT)) {
        size_t pages = (need + PAGE_SIZE - 1) / PAGE_SIZE;
        struct block_header *h = pv_pages_alloc(pages);
        if (h == NULL)
            return NULL;
        *h = (struct block_header){ .magic = HEAP_MAGIC, .cls = LARGE_CLASS, .pages = pages };
        return h + 1;
    }
    unsigned int cls = 0;
    while (((size_t)1 << (cls + MIN_SHIFT)) < need)
        cls++;
    if (free_lists[cls] == NULL && !refill(cls))
        return NULL;
    struct free_block *b = free_lists[cls];
    free_lists[cls] = b->next;
    b->h.free = 0;
    return &b->h + 1;
}

void *pv_calloc(size_t n, size_t size)
{
    if (size != 0 && n > ((size_t)1 << 40) / size)
        return NULL;
    void *p = pv_malloc(n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

void pv_free(void *p)
{
    if (p == NULL)
        return;
    struct block_header *h = (struct block_header *)p - 1;
    if (((unsigned long)p & 15) != 0 || h->magic != HEAP_MAGIC)
        pv_panic("pv_free: %p was not allocated by pv_malloc", p);
    if (h->cls == LARGE_CLASS) {
        size_t pages = h->pages;
        h->magic = 0;
        pv_pages_free(h, pages);
        return;
    }
    if (h->cls >= NR_CLASSES || h->free)
        pv_panic("pv_free: double free or corrupt block %p", p);
    struct free_block *b = (struct free_block *)h;
    b->h.free = 1;
    b->next = free_lists[h->cls];
    free_lists[h->cls] = b;
}
