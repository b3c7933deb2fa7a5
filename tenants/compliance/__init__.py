"""Compliance: reports on the conduct engine's recorded decisions (by agency, rule and day; conduct scorecards;
one decision replayed) and debtor complaints linked to accounts, agencies and attempts."""
