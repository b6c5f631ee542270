/* the dashboard (docs/dashboard.md) */
