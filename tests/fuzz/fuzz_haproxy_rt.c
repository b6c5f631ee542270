/* The Runtime API answers' parsers (src/util/haproxy_rt.c): the input as `show servers state`
 * for backend "app", then as `show stat` merged into what a fixed state answer lists, then its
 * first line as a reply. A parsed server must be whole (a printable name, a port and flags in
 * range, no session count before the merge); a failure must say why. Violations abort. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/haproxy_rt.h"

#define MAX 64

static const char state[] =
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health "
    "srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord "
    "srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n"
    "3 app 1 s1 127.0.0.1 2 0 1 1 0 6 3 4 6 0 0 0 - 8081 - 0 0 - - 0\n"
    "3 app 2 s2 127.0.0.1 2 8 1 1 0 6 3 4 6 0 0 0 - 8082 - 0 0 - - 0\n";

static void check_servers(const struct as_hart_server *v, size_t n, int merged)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i].name);
        if (len == 0 || len >= AS_HART_NAME_MAX || v[i].port < 0 || v[i].port > 65535 ||
            v[i].admin > 0xff || v[i].op < 0 || v[i].op > 3 || v[i].weight < 0 ||
            v[i].weight > 256 || (!merged && v[i].scur != -1) || v[i].scur < -1 || v[i].qcur < -1 ||
            strlen(v[i].status) >= sizeof(v[i].status))
            abort();
        for (size_t k = 0; k < len; k++)
            if (!isgraph((unsigned char)v[i].name[k]))
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct as_hart_server v[MAX];
    const char *text = (const char *)data;
    char why[200], line[100];
    size_t n = 0;
    why[0] = '\0';
    if (as_hart_parse_state(text, size, "app", v, MAX, &n, why, sizeof(why)) == 0)
        check_servers(v, n, 0);
    else if (why[0] == '\0')
        abort();
    if (as_hart_parse_state(state, sizeof(state) - 1, "app", v, MAX, &n, why, sizeof(why)) != 0 ||
        n != 2)
        abort();
    why[0] = '\0';
    if (as_hart_merge_stat(text, size, "app", v, n, why, sizeof(why)) == 0)
        check_servers(v, n, 1);
    else if (why[0] == '\0')
        abort();
    as_hart_reply_line(text, size, line, sizeof(line));
    if (strlen(line) >= sizeof(line))
        abort();
    (void)as_hart_reply_is(text, size, "Server deleted.");
    return 0;
}
