/*
 * pingpong - two domains bounce an event back and forth over an
 * interdomain event channel they set up through xenstore.
 *
 * Start the same kernel twice.  Without "peer=" on its command line a
 * domain is the ping side: it opens data/pingpong to other domains
 * (XS_SET_PERMS) and waits for a pong domain to write its id there.  It
 * then allocates an unbound port for that domain (EVTCHNOP_alloc_unbound)
 * and publishes it.  The pong side ("peer=<ping domid>") binds to the port
 * (EVTCHNOP_bind_interdomain) and both exchange ROUNDS events, each side
 * answering the other's (EVTCHNOP_send + SCHEDOP_poll).  Pong reports the
 * average round trip.  "rounds=N" on pong's command line sets the number
 * of round trips (default 100); pong passes it to ping in data/pingpong/rounds.
 *
 *   xl create xl-config/examples/pingpong.cfg                          # ping
 *   xl create -c xl-config/examples/pingpong.cfg name=pong 'extra="peer=<ping's domid>"'
 */
#include <paravirt/pv.h>

#define ROUNDS 100
/* "rounds=N" on the pong side's command line (the benchmark asks for more); it tells ping through xenstore. */
#define MAX_ROUNDS 10000000L
/* Give up rather than hang if the other side vanishes. */
#define PATIENCE_NS (30ULL * 1000000000ULL)

/* Waits (through a watch on path) until path holds a number; returns it. */
static long wait_for_number(const char *path, const char *token)
{
    char value[32], epath[128], etoken[32];
    int rc = pv_xenbus_watch(path, token);
    if (rc != 0)
        pv_panic("pingpong: watch %s failed (error %d)", path, rc);
    for (;;) {
        /* The first event comes at registration, so an existing value is seen at once. */
        rc = pv_xenbus_read_watch(epath, sizeof(epath), etoken, sizeof(etoken), true);
        if (rc != 0)
            pv_panic("pingpong: reading watch events failed (error %d)", rc);
        if (strcmp(etoken, token) != 0)
            continue;
        if (pv_xenbus_read(path, value, sizeof(value)) < 0)
            continue;
        long v = pv_parse_decimal(value, 1000000000L);
        if (v < 0)
            pv_panic("pingpong: %s holds \"%s\", not a number", path, value);
        pv_xenbus_unwatch(path, token);
        return v;
    }
}

/* first: send, then wait for the answer (pong); otherwise wait, then answer (ping). */
static void exchange(evtchn_port_t port, bool first, const char *who, long rounds)
{
    uint64_t start = pv_system_time_ns();
    for (long i = 0; i < rounds; i++) {
        if (first) {
            pv_evtchn_send(port);
            long rc = pv_evtchn_wait(port, pv_system_time_ns() + PATIENCE_NS);
            if (rc != 0)
                pv_panic("%s: no answer to round %ld (error %ld)", who, i + 1, rc);
        } else {
            long rc = pv_evtchn_wait(port, pv_system_time_ns() + PATIENCE_NS);
            if (rc != 0)
                pv_panic("%s: no event in round %ld (error %ld)", who, i + 1, rc);
            pv_evtchn_send(port);
        }
    }
    uint64_t took = pv_system_time_ns() - start;
    if (first) {
        pv_printf("%s: %ld round trips, average %llu ns\n", who, rounds,
                  (unsigned long long)(took / (uint64_t)rounds));
        pv_printf("%s: %ld round trips took %llu ns\n", who, rounds, (unsigned long long)took);
    } else {
        pv_printf("%s: answered %ld events\n", who, rounds);
    }
}

int pv_main(start_info_t *si)
{
    if (pv_shared_info == NULL)
        pv_panic("pingpong: shared_info is not mapped, cannot wait for events");
    long self = pv_xenbus_domid();
    if (self < 0)
        pv_panic("pingpong: no domid (error %ld)", self);
    long peer = pv_cmdline_number(si, "peer=", DOMID_FIRST_RESERVED);
    long rounds = pv_cmdline_number(si, "rounds=", MAX_ROUNDS + 1);
    if (rounds <= 0)
        rounds = ROUNDS;
    char path[96], value[32];
    int rc;

    if (peer < 0) {
        /* Ping: open data/pingpong to every domain (read and write). */
        pv_snprintf(path, sizeof(path), "/local/domain/%ld/data/pingpong", self);
        rc = pv_xenbus_mkdir(XBT_NIL, path);
        if (rc != 0)
            pv_panic("ping: mkdir %s failed (error %d)", path, rc);
        char owner[16];
        pv_snprintf(owner, sizeof(owner), "b%ld", self);
        const char *perms[] = { owner };
        rc = pv_xenbus_set_perms(XBT_NIL, path, perms, 1);
        if (rc != 0)
            pv_panic("ping: set_perms %s failed (error %d)", path, rc);
        pv_printf("ping: domain %ld waiting for a peer at %s\n", self, path);

        pv_snprintf(path, sizeof(path), "/local/domain/%ld/data/pingpong/pong-domid", self);
        long pong = wait_for_number(path, "pong");
        if (pong >= DOMID_FIRST_RESERVED)
            pv_panic("ping: peer id %ld is not a domain", pong);
        /* Pong writes the round count before its id. */
        pv_snprintf(path, sizeof(path), "/local/domain/%ld/data/pingpong/rounds", self);
        if (pv_xenbus_read(path, value, sizeof(value)) >= 0) {
            rounds = pv_parse_decimal(value, 1000000000L);
            if (rounds <= 0 || rounds > MAX_ROUNDS)
                pv_panic("ping: %s holds \"%s\", not a round count", path, value);
        }
        evtchn_port_t port;
        long lrc = pv_evtchn_alloc_unbound((domid_t)pong, &port);
        if (lrc != 0)
            pv_panic("ping: alloc_unbound for domain %ld failed (error %ld)", pong, lrc);
        pv_snprintf(path, sizeof(path), "/local/domain/%ld/data/pingpong/port", self);
        pv_snprintf(value, sizeof(value), "%u", port);
        rc = pv_xenbus_write(XBT_NIL, path, value);
        if (rc != 0)
            pv_panic("ping: publishing the port failed (error %d)", rc);
        pv_printf("ping: port %u offered to domain %ld\n", port, pong);
        exchange(port, false, "ping", rounds);
        return 0;
    }

    /* Pong: tell the ping domain how many rounds, announce ourselves, bind to its port. */
    pv_snprintf(path, sizeof(path), "/local/domain/%ld/data/pingpong/rounds", peer);
    pv_snprintf(value, sizeof(value), "%ld", rounds);
    rc = pv_xenbus_write(XBT_NIL, path, value);
    if (rc != 0)
        pv_panic("pong: writing %s failed (error %d): is domain %ld a ping?", path, rc, peer);
    pv_snprintf(path, sizeof(path), "/local/domain/%ld/data/pingpong/pong-domid", peer);
    pv_snprintf(value, sizeof(value), "%ld", self);
    rc = pv_xenbus_write(XBT_NIL, path, value);
    if (rc != 0)
        pv_panic("pong: writing %s failed (error %d): is domain %ld a ping?", path, rc, peer);
    pv_snprintf(path, sizeof(path), "/local/domain/%ld/data/pingpong/port", peer);
    long remote = wait_for_number(path, "port");
    evtchn_port_t port;
    long lrc = pv_evtchn_bind_interdomain((domid_t)peer, (evtchn_port_t)remote, &port);
    if (lrc != 0)
        pv_panic("pong: bind_interdomain to %ld:%ld failed (error %ld)", peer, remote, lrc);
    /* Binding marks the new local port pending (so no event is ever lost to the
     * race with the peer); this protocol counts events, so start from clean. */
    pv_evtchn_test_and_clear(port);
    pv_printf("pong: bound local port %u to domain %ld port %ld\n", port, peer, remote);
    exchange(port, true, "pong", rounds);
    return 0;
}
