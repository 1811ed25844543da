"""Cross-cutting building blocks every service uses; no business rules live here."""
