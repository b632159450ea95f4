"""Pod / instance names to services."""

from __future__ import annotations

import re

import pytest

from topology import PodNameMapper, ServiceGraph, TopologyError, pod_to_service


@pytest.mark.parametrize(
    ("pod", "service"),
    [
        # Deployments: <name>-<pod-template-hash>-<5 random>
        ("cartservice-579f59597d-wc2lz", "cartservice"),
        ("ts-contacts-service-866bd68c97-xcqfx", "ts-contacts-service"),
        ("currencyservice-cf787dd48-vpjrd", "currencyservice"),
        ("ts-ui-dashboard-5477b965f-2chkr", "ts-ui-dashboard"),
        ("ts-travel2-service-5c66d57d58-6mp2b", "ts-travel2-service"),
        # StatefulSet ordinals
        ("redis-0", "redis"),
        ("redis-cart-12", "redis-cart"),
        # ReplicaSet / DaemonSet / bare hash: <name>-<5 random>
        ("kube-proxy-7wd2r", "kube-proxy"),
        ("nginx-x7k2p", "nginx"),
        # Not hashes: unchanged
        ("ts-ui-dashboard", "ts-ui-dashboard"),
        ("frontend", "frontend"),
        ("ts-travel2-service", "ts-travel2-service"),
        ("api-v2", "api-v2"),
        ("payment-apple", "payment-apple"),  # vowels: not a k8s suffix
        ("svc-abcde", "svc-abcde"),
        ("33.33.33.76", "33.33.33.76"),
    ],
)
def test_default_rule(pod, service):
    assert pod_to_service(pod) == service
    assert PodNameMapper()(pod) == service


def test_mapping_overrides_by_pod_and_by_stripped_name():
    mapper = PodNameMapper(mapping={"weird-pod": "auth", "redis": "redis-cart"})
    assert mapper("weird-pod") == "auth"
    assert mapper("redis-0") == "redis-cart"
    assert mapper("redis-cart") == "redis-cart"  # a target is returned as is
    assert mapper("frontend-579b9bff58-t2dbm") == "frontend"


def test_mapping_targets_are_not_stripped():
    mapper = PodNameMapper(mapping={"db-primary": "db-0"})
    assert mapper("db-primary") == "db-0"
    assert mapper("db-0") == "db-0"


def test_custom_pattern():
    mapper = PodNameMapper(pattern=r"(?P<service>[a-z]+)_\d+")
    assert mapper("worker_12") == "worker"
    assert mapper("cartservice-579f59597d-wc2lz") == "cartservice-579f59597d-wc2lz"
    compiled = PodNameMapper(pattern=re.compile(r"(?P<service>.+)\.pod"))
    assert compiled("web.pod") == "web"


def test_an_empty_service_group_keeps_the_name():
    assert PodNameMapper(pattern=r"(?P<service>x?)-\d+")("-1") == "-1"


@pytest.mark.parametrize(
    ("kwargs", "match", "field"),
    [
        ({"pattern": "(unclosed"}, "does not compile", "pattern"),
        ({"pattern": r"(.+)-\d+"}, "needs a named group 'service'", "pattern"),
        ({"mapping": {"a": ""}}, "non-empty strings", "mapping['a']"),
        ({"mapping": {3: "a"}}, "non-empty strings", "mapping[3]"),
    ],
)
def test_bad_configuration(kwargs, match, field):
    with pytest.raises(TopologyError, match=match) as info:
        PodNameMapper(**kwargs)
    assert info.value.field == field


def test_relabel_merges_pods_of_one_service():
    g = ServiceGraph()
    g.add_call("frontend-579b9bff58-t2dbm", "cartservice-579f59597d-wc2lz", calls=3)
    g.add_call("frontend-579b9bff58-xxxxx", "cartservice-579f59597d-wc2lz", calls=2)
    g.add_call("cartservice-579f59597d-wc2lz", "redis-0", calls=1)
    g.add_call("cartservice-579f59597d-wc2lz", "redis-1", calls=1)
    out = PodNameMapper().relabel(g)
    assert out.services == ["frontend", "cartservice", "redis"]
    assert out.calls[0].calls == 5 and out.calls[1].calls == 2


def test_mapping_for_and_repr():
    mapper = PodNameMapper()
    assert mapper.mapping_for(["redis-0", "redis-0", "web"]) == {"redis-0": "redis", "web": "web"}
    assert "PodNameMapper(pattern=" in repr(mapper)
