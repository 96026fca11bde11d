/* coro_stack.c: the cache of freed coroutine stacks, one free list per
 * stack size (coro_stack.h says what is kept and which threads call). */
#include <pthread.h>

#include "coro.h"
#include "coro_stack.h"

/* A kept stack links to the next kept stack of its class through its top
 * word: the top of a stack is its first frame's, always touched, so the
 * link costs no page the coroutine did not already fault in. No madvise
 * either: that would cost the TLB shootdown that munmap costs. */
typedef struct {
    size_t size; /* the mapping size of this class's stacks */
    char *head;  /* the last freed; NULL: the class is free */
    int len;
} stack_class;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static stack_class classes[DURO__CORO_STACK_CLASSES];
static int total; /* kept stacks, all classes */

static char **link_of(char *map, size_t map_size)
{
    return (char **)(void *)(map + map_size - sizeof(char *));
}

static void push(stack_class *k, char *map)
{
    *link_of(map, k->size) = k->head;
    k->head = map;
    k->len++;
    total++;
}

static char *pop(stack_class *k)
{
    char *map = k->head;
    k->head = *link_of(map, k->size);
    k->len--;
    total--;
    return map;
}

/* find: the class that keeps stacks of map_size, or NULL. */
static stack_class *find(size_t map_size)
{
    for (int i = 0; i < DURO__CORO_STACK_CLASSES; i++)
        if (classes[i].len > 0 && classes[i].size == map_size)
            return &classes[i];
    return NULL;
}

/* claim: a free class for map_size, or NULL when every class keeps
 * stacks of another size. */
static stack_class *claim(size_t map_size)
{
    for (int i = 0; i < DURO__CORO_STACK_CLASSES; i++)
        if (classes[i].len == 0) {
            classes[i].size = map_size;
            classes[i].head = NULL;
            return &classes[i];
        }
    return NULL;
}

/* biggest: the class holding the most stacks (the cache is full, so at
 * least one holds some). */
static stack_class *biggest(void)
{
    stack_class *big = &classes[0];
    for (int i = 1; i < DURO__CORO_STACK_CLASSES; i++)
        if (classes[i].len > big->len) big = &classes[i];
    return big;
}

char *duro__coro_stack_take(size_t map_size)
{
    char *map = NULL;
    pthread_mutex_lock(&lock);
    stack_class *k = find(map_size);
    if (k != NULL) map = pop(k);
    pthread_mutex_unlock(&lock);
    return map;
}

char *duro__coro_stack_put(char *map, size_t map_size, size_t *unmap_size)
{
    char *out = map;
    *unmap_size = map_size;
    pthread_mutex_lock(&lock);
    stack_class *k = find(map_size);
    if (k == NULL) k = claim(map_size);
    if (k != NULL && total < DURO__CORO_CACHE_MAX) {
        push(k, map);
        out = NULL;
    } else if (k != NULL) {
        /* full: evict from the biggest class unless this is it */
        stack_class *big = biggest();
        if (big->len > k->len) {
            *unmap_size = big->size;
            out = pop(big);
            push(k, map);
        }
    }
    pthread_mutex_unlock(&lock);
    return out;
}

int duro__coro_stack_count(size_t map_size)
{
    pthread_mutex_lock(&lock);
    stack_class *k = map_size ? find(map_size) : NULL;
    int n = map_size ? (k ? k->len : 0) : total;
    pthread_mutex_unlock(&lock);
    return n;
}
