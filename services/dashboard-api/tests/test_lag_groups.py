"""Which consumer group the lag view reads for each stage: the one that stage's workers join."""

from plinth.domain.states import Stage
from plinth.messaging.topics import STAGE_INPUT
from plinth.settings import KafkaSettings
from plinth.worker.service import consumer_group
from plinth_dashboard_api.kafka_lag import conventional_group


def test_each_stage_reads_the_group_of_its_workers() -> None:
    settings = KafkaSettings(kafka_consumer_group_prefix="acme")
    assert conventional_group(settings, Stage.DOWNLOAD) == "acme-ingest"  # ingest's downloader
    for stage in STAGE_INPUT:
        if stage is not Stage.DOWNLOAD:
            assert conventional_group(settings, stage) == consumer_group(settings, stage)
