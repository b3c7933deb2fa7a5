"""Recovery analytics: liquidation curves by placement month (liquidation), the champion/challenger comparison of
an allocation's arms (comparison), roll rates between days-past-due buckets (roll_rates) and the cost of collection
(cost). Each question is one module whose queries count and sum in the database, grouped by what the page shows;
Python only accumulates those few rows and divides (statistics in stats). A lender reads its own placements with
every agency; an agency reads only its own placements and the payments credited to it (common.Viewer)."""
