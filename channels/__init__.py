"""Channel providers: one small interface, one implementation per way of reaching people."""
