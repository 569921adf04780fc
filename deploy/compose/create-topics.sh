#!/usr/bin/env bash
# One-shot job of docker-compose.yml: create the domain topics and their dead-letter topics.
# Idempotent (--if-not-exists): safe on every `docker compose up`.
# Keep in step with deploy/k8s/base/platform/kafka/topics.yaml (partitions, retention).
set -euo pipefail

bootstrap="${KAFKA_BOOTSTRAP:-kafka:9092}"
kafka_topics=/opt/kafka/bin/kafka-topics.sh

# The names are the event classes' topics (umkm_shared.events.*_TOPIC; supply-chain's has a
# hyphen). A consumer subscribed to a missing topic gets nothing: auto-creation is off.
#   registry      -> clustering, supply-chain, financing-broker
#   clustering    -> supply-chain, financing-broker
#   supply-chain  -> clustering, financing-broker
#   financing     -> (partners, through webhooks)
# name                  partitions  retention.ms
topics=(
  "umkm.registry.v1         12  1209600000"
  "umkm.clustering.v1        6  1209600000"
  "umkm.supply-chain.v1      6  1209600000"
  "umkm.financing.v1         6  1209600000"
  "umkm.registry.v1.dlq      3  2592000000"
  "umkm.clustering.v1.dlq    3  2592000000"
  "umkm.supply-chain.v1.dlq  3  2592000000"
  "umkm.financing.v1.dlq     3  2592000000"
)

for entry in "${topics[@]}"; do
  read -r name partitions retention_ms <<<"${entry}"
  "${kafka_topics}" --bootstrap-server "${bootstrap}" --create --if-not-exists \
    --topic "${name}" --partitions "${partitions}" --replication-factor 1 \
    --config "retention.ms=${retention_ms}" --config cleanup.policy=delete
done

"${kafka_topics}" --bootstrap-server "${bootstrap}" --list
