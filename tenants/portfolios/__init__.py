"""Portfolio imports: reading lenders' files of overdue accounts, mapping their columns and validating rows."""
