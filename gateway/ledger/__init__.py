"""The double-entry journal: the postings each outcome books, and the verifier that re-derives
them."""
