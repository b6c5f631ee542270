/* The dashboard's own files, embedded at build time (CMakeLists.txt turns
 * src/api/dashboard.{html,js,css} into arrays): nothing of the page comes from elsewhere. */
#include <string.h>

#include "api/api.h"

extern const unsigned char as_dashboard_html[], as_dashboard_js[], as_dashboard_css[];
extern const size_t as_dashboard_html_len, as_dashboard_js_len, as_dashboard_css_len;

void as_api_asset(const struct as_route *route, struct as_api_reply *r)
{
    const unsigned char *data = as_dashboard_html;
    size_t len = as_dashboard_html_len;
    const char *ctype = "text/html; charset=utf-8";
    if (route->kind == AS_R_ASSET && strcmp(route->asset, "js") == 0) {
        data = as_dashboard_js;
        len = as_dashboard_js_len;
        ctype = "text/javascript; charset=utf-8";
    } else if (route->kind == AS_R_ASSET) {
        data = as_dashboard_css;
        len = as_dashboard_css_len;
        ctype = "text/css; charset=utf-8";
    }
    as_api_text(r, 200, ctype, (const char *)data, len);
    r->page = 1;
}
