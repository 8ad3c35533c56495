"""contact-relay: a self-hosted contact-form relay for clinics. Importing has no side effects."""

__version__ = "0.1.0"
