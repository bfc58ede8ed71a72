"""The FX desk's rates: where mid rates come from, how they are fetched, and the book of the
current sets the quotes are priced from."""
