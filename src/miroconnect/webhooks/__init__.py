"""Webhooks to the host app: the events of the outbox (`miroconnect.storage.outbox`),
signed as Standard Webhooks says (`sender`) and delivered at least once by a worker in
every `serve` process (`worker`)."""
