//! Kubernetes: manifests, server-side apply, rollout status and rollout undo logic (pure) behind the kube client.
