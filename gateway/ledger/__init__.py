"""The double-entry journal: its vocabulary (`model`: accounts, entry kinds, shared with
storage), the postings each outcome books (`postings`), and the verifier that re-derives them
(`verify`, worded by `report`)."""
