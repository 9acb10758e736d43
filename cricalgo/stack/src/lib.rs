//! The staging stack: compose-file model, Docker Engine API (bollard) convergence, health gating and compose rollback revisions.
