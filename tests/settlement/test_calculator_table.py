"""Settlement statements worked by hand (amounts in fen), and every invalid case with its code."""

from __future__ import annotations

from typing import Any

import pytest

from marketplace.settlement import (
    Case,
    SettlementInvalid,
    Statement,
    compute_statement,
    court_tiered_premium,
    front_loaded_advances,
)
from marketplace.settlement.calculator import Party

from .cases import DOMAIN_EXAMPLE, make_case

THREE_PARTIES = [("bank", 2000), ("guarantor", 4000), ("risk_pool", 4000)]


def lines_of(statement: Statement) -> list[tuple[str, int, int, int]]:
    return [(line.role, line.advance, line.loss_share, line.receives) for line in statement.lines]


SETTLED: list[Any] = [
    pytest.param(
        DOMAIN_EXAMPLE,
        {"net": 68_000_000, "recovered": 68_000_000, "loss": 32_000_000, "surplus_to_pledgor": 0},
        [
            ("bank", 0, 6_400_000, 13_600_000),
            ("guarantor", 40_000_000, 12_800_000, 27_200_000),
            ("risk_pool", 40_000_000, 12_800_000, 27_200_000),
        ],
        id="domain example: net 70M-2M=68M, loss 32M split 6.4/12.8/12.8M, "
        "guarantor 40M-12.8M=27.2M, bank 68M-54.4M=13.6M",
    ),
    pytest.param(
        make_case(
            parties=THREE_PARTIES,
            claim=100_000_000,
            hammer=70_000_000,
            costs=[2_000_000],
            advances=[("guarantor", 15_000_000), ("risk_pool", 40_000_000), ("guarantor", 25_000_000)],
        ),
        {"net": 68_000_000, "recovered": 68_000_000, "loss": 32_000_000},
        [
            ("bank", 0, 6_400_000, 13_600_000),
            ("guarantor", 40_000_000, 12_800_000, 27_200_000),
            ("risk_pool", 40_000_000, 12_800_000, 27_200_000),
        ],
        id="instalments: guarantor 15M+25M=40M is the domain example",
    ),
    pytest.param(
        make_case(
            parties=[("bank", 5000), ("guarantor", 5000)],
            claim=50_000_000,
            hammer=80_000_000,
            costs=[3_000_000],
            advances=[("guarantor", 25_000_000)],
        ),
        {"net": 77_000_000, "recovered": 50_000_000, "loss": 0, "surplus_to_pledgor": 27_000_000},
        [("bank", 0, 0, 25_000_000), ("guarantor", 25_000_000, 0, 25_000_000)],
        id="surplus: net 80M-3M=77M, claim 50M recovered, 27M to the pledgor, "
        "guarantor gets its 25M back, bank 50M-25M=25M",
    ),
    pytest.param(
        make_case(
            parties=[("bank", 3000), ("guarantor", 7000)],
            claim=10_000_000,
            hammer=0,
            advances=[("guarantor", 7_000_000)],
        ),
        {"net": 0, "recovered": 0, "loss": 10_000_000, "surplus_to_pledgor": 0},
        [("bank", 0, 3_000_000, 0), ("guarantor", 7_000_000, 7_000_000, 0)],
        id="zero hammer, front-loaded: loss 10M = 3M+7M, guarantor 7M-7M=0, bank 0",
    ),
    pytest.param(
        make_case(parties=THREE_PARTIES, claim=100_000_000, hammer=70_000_000, costs=[2_000_000]),
        {"net": 68_000_000, "recovered": 68_000_000, "loss": 32_000_000},
        [
            ("bank", 0, 6_400_000, 93_600_000),
            ("guarantor", 0, 12_800_000, -12_800_000),
            ("risk_pool", 0, 12_800_000, -12_800_000),
        ],
        id="post-disposal: no advances, guarantor and pool each owe 12.8M, bank 68M+25.6M=93.6M",
    ),
    pytest.param(
        make_case(
            parties=THREE_PARTIES,
            claim=100_000_000,
            hammer=70_000_000,
            costs=[2_000_000],
            advances=[("guarantor", 40_000_000)],
        ),
        {"net": 68_000_000, "recovered": 68_000_000, "loss": 32_000_000},
        [
            ("bank", 0, 6_400_000, 53_600_000),
            ("guarantor", 40_000_000, 12_800_000, 27_200_000),
            ("risk_pool", 0, 12_800_000, -12_800_000),
        ],
        id="partial advances: guarantor 40M-12.8M=27.2M, pool owes 12.8M, bank 68M-27.2M+12.8M=53.6M",
    ),
    pytest.param(
        make_case(
            parties=[("bank", 5000), ("guarantor", 5000)],
            claim=20_000_000,
            hammer=4_000_000,
            advances=[("guarantor", 2_000_000)],
        ),
        {"net": 4_000_000, "recovered": 4_000_000, "loss": 16_000_000},
        [("bank", 0, 8_000_000, 10_000_000), ("guarantor", 2_000_000, 8_000_000, -6_000_000)],
        id="guarantor owes: advanced 2M, bears 8M, so 2M-8M=-6M; bank 4M+6M=10M",
    ),
    pytest.param(
        make_case(
            parties=[("bank", 10_000)],
            claim=10_000_000,
            hammer=5_000_000,
            forfeited_deposits=1_000_000,
            costs=[500_000],
        ),
        {"net": 5_500_000, "recovered": 5_500_000, "loss": 4_500_000, "forfeited_deposits": 1_000_000},
        [("bank", 0, 4_500_000, 5_500_000)],
        id="forfeited deposits: net 5M+1M-0.5M=5.5M, bank alone bears 10M-5.5M=4.5M",
    ),
    pytest.param(
        make_case(
            parties=[("bank", 10_000)],
            claim=10_000_000,
            hammer=5_000_000,
            forfeited_deposits=1_000_000,
            commission_bp=100,
        ),
        {"commission": 50_000, "net": 5_950_000, "recovered": 5_950_000, "loss": 4_050_000},
        [("bank", 0, 4_050_000, 5_950_000)],
        id="commission is on the hammer only: 1% of 5M = 50k, not of the 1M deposits; net 6M-50k",
    ),
    pytest.param(
        make_case(
            parties=[("bank", 6000), ("guarantor", 4000)],
            claim=100_000_000,
            hammer=12_345_678,
            commission_bp=150,
            premium_bp=300,
        ),
        {
            "premium": 370_370,
            "buyer_pays": 12_716_048,
            "commission": 185_185,
            "net": 12_160_493,
            "recovered": 12_160_493,
            "loss": 87_839_507,
        },
        [("bank", 0, 52_703_704, 47_296_296), ("guarantor", 0, 35_135_803, -35_135_803)],
        id="commission 1.5% of 12 345 678 = 185 185.17 -> 185 185, premium 3% = 370 370.34 -> 370 370 "
        "(not proceeds); net 12 160 493; loss 87 839 507 = 52 703 704.2 + 35 135 802.8, leftover to the .8",
    ),
    pytest.param(
        make_case(parties=[("bank", 10_000)], claim=2_000_000, hammer=1_000_100, commission_bp=50),
        {"commission": 5_001, "net": 995_099, "recovered": 995_099, "loss": 1_004_901},
        [("bank", 0, 1_004_901, 995_099)],
        id="commission tie: 0.5% of 1 000 100 = 5 000.5 rounds up to 5 001; net 995 099",
    ),
    pytest.param(
        make_case(
            parties=[("guarantor", 2500), ("bank", 2500), ("risk_pool", 2500), ("insurer", 2500)],
            claim=10_000_002,
            hammer=10_000_000,
        ),
        {"recovered": 10_000_000, "loss": 2},
        [
            ("guarantor", 0, 1, -1),
            ("bank", 0, 1, 10_000_001),
            ("risk_pool", 0, 0, 0),
            ("insurer", 0, 0, 0),
        ],
        id="loss 2 in quarters: 0.5 each, all tied, the two listed first take 1 fen each",
    ),
    pytest.param(
        make_case(parties=[("risk_pool", 5000), ("bank", 5000)], claim=100, hammer=99),
        {"recovered": 99, "loss": 1},
        [("risk_pool", 0, 1, -1), ("bank", 0, 0, 100)],
        id="loss 1 in halves: the pool is listed first so it bears the fen; bank 99+1=100",
    ),
    pytest.param(
        make_case(
            parties=[("bank", 5000), ("guarantor", 5000)],
            claim=5_000_000,
            hammer=1_000_000,
            commission_bp=100,
            costs=[1_500_000],
            advances=[("guarantor", 2_500_000)],
        ),
        {"commission": 10_000, "net": 0, "shortfall": 510_000, "recovered": 0, "loss": 5_000_000},
        [("bank", 0, 2_500_000, 0), ("guarantor", 2_500_000, 2_500_000, 0)],
        id="net floored: 1M-10k-1.5M=-510k -> net 0, shortfall 510k; loss 5M split 2.5M/2.5M",
    ),
    pytest.param(
        make_case(
            parties=[
                ("bank", 1000),
                ("guarantor", 3000),
                ("risk_pool", 3000),
                ("valuer", 1000),
                ("insurer", 2000),
            ],
            claim=100_000_000,
            hammer=55_555_555,
            costs=[1_000_000, 234_567],
            advances=[
                ("guarantor", 30_000_000),
                ("risk_pool", 30_000_000),
                ("valuer", 10_000_000),
                ("insurer", 20_000_000),
            ],
        ),
        {"costs_total": 1_234_567, "net": 54_320_988, "recovered": 54_320_988, "loss": 45_679_012},
        [
            ("bank", 0, 4_567_901, 5_432_099),
            ("guarantor", 30_000_000, 13_703_704, 16_296_296),
            ("risk_pool", 30_000_000, 13_703_704, 16_296_296),
            ("valuer", 10_000_000, 4_567_901, 5_432_099),
            ("insurer", 20_000_000, 9_135_802, 10_864_198),
        ],
        id="five parties: loss 45 679 012 -> floors 4 567 901/13 703 703 x2/4 567 901/9 135 802 "
        "(rem .2/.6/.6/.2/.4), +1 to each .6; bank 54 320 988 - 48 888 889 = 5 432 099",
    ),
    pytest.param(
        make_case(parties=[("bank", 10_000)], claim=0, hammer=1_000),
        {"net": 1_000, "recovered": 0, "loss": 0, "surplus_to_pledgor": 1_000},
        [("bank", 0, 0, 0)],
        id="zero claim: all 1 000 goes to the pledgor",
    ),
    pytest.param(
        make_case(
            parties=[("bank", 10_000), ("guarantor", 0)],
            claim=1_000_000,
            hammer=0,
            advances=[("guarantor", 1_000_000)],
        ),
        {"net": 0, "recovered": 0, "loss": 1_000_000},
        [("bank", 0, 1_000_000, -1_000_000), ("guarantor", 1_000_000, 0, 1_000_000)],
        id="over-advance: a 0 bp guarantor advanced 1M, so the bank owes it back: bank receives -1M",
    ),
]


@pytest.mark.parametrize(("case", "totals", "lines"), SETTLED)
def test_statement(case: Case, totals: dict[str, int], lines: list[tuple[str, int, int, int]]) -> None:
    statement = compute_statement(case)
    for field, expected in totals.items():
        assert getattr(statement, field) == expected, field
    assert lines_of(statement) == lines
    assert [line.ratio_bp for line in statement.lines] == [party.ratio_bp for party in case.parties]
    assert statement.bank_receives == next(line.receives for line in statement.lines if line.role == "bank")
    assert statement.balanced is True


def test_domain_example_in_full() -> None:
    statement = compute_statement(DOMAIN_EXAMPLE)
    assert statement.currency == "CNY"
    assert statement.hammer == 70_000_000
    assert statement.premium == 0
    assert statement.commission == 0
    assert statement.costs_total == 2_000_000
    assert statement.net == 68_000_000
    assert statement.claim == 100_000_000
    assert statement.recovered == 68_000_000
    assert statement.loss == 32_000_000
    assert statement.surplus_to_pledgor == 0
    assert statement.shortfall == 0
    assert statement.balanced is True
    bank_lent, advanced = 100_000_000, 80_000_000
    assert bank_lent - advanced - statement.bank_receives == 6_400_000


def test_front_loaded_advances_of_the_domain_example() -> None:
    parties = DOMAIN_EXAMPLE.parties
    assert front_loaded_advances(100_000_000, parties) == DOMAIN_EXAMPLE.advances


def test_front_loaded_advances_allocate_the_claim_over_every_ratio() -> None:
    parties = [
        Party(role="guarantor", ratio_bp=3333),
        Party(role="bank", ratio_bp=3334),
        Party(role="risk_pool", ratio_bp=3333),
    ]
    advances = front_loaded_advances(100, parties)
    assert [(advance.role, advance.amount) for advance in advances] == [("guarantor", 33), ("risk_pool", 33)]


PREMIUMS: list[Any] = [
    pytest.param(0, 0, id="0 -> 0"),
    pytest.param(9, 0, id="9 fen x 5% = 0.45 -> 0"),
    pytest.param(10, 1, id="10 fen x 5% = 0.5 -> 1 (half up)"),
    pytest.param(199_999_999, 10_000_000, id="2M-1fen: 9 999 999.95 -> 10 000 000"),
    pytest.param(200_000_000, 10_000_000, id="2M: 5% = 100k yuan"),
    pytest.param(200_000_001, 10_000_000, id="2M+1fen: 10 000 000 + 0.03"),
    pytest.param(200_000_100, 10_000_003, id="2M+1yuan: +100 x 3% = +3 (5% would be +5)"),
    pytest.param(999_999_999, 34_000_000, id="10M-1fen: 34 000 000 - 0.03"),
    pytest.param(1_000_000_000, 34_000_000, id="10M: 10M + 800M x 3% = 34M fen"),
    pytest.param(1_000_000_001, 34_000_000, id="10M+1fen: + 0.02"),
    pytest.param(1_000_000_100, 34_000_002, id="10M+1yuan: +100 x 2% = +2"),
    pytest.param(4_999_999_999, 114_000_000, id="50M-1fen: 114 000 000 - 0.02"),
    pytest.param(5_000_000_000, 114_000_000, id="50M: 34M + 4 000M x 2% = 114M fen"),
    pytest.param(5_000_000_001, 114_000_000, id="50M+1fen: + 0.01"),
    pytest.param(5_000_000_100, 114_000_001, id="50M+1yuan: +100 x 1% = +1"),
    pytest.param(9_999_999_999, 164_000_000, id="100M-1fen: 164 000 000 - 0.01"),
    pytest.param(10_000_000_000, 164_000_000, id="100M: 114M + 5 000M x 1% = 164M fen"),
    pytest.param(10_000_000_001, 164_000_000, id="100M+1fen: + 0.005"),
    pytest.param(10_000_000_100, 164_000_001, id="100M+1yuan: + 0.5 -> +1 (half up)"),
    pytest.param(10_000_000_300, 164_000_002, id="100M+3yuan: + 1.5 -> +2 (1% would be +3)"),
    pytest.param(20_000_000_000, 214_000_000, id="200M: 164M + 10 000M x 0.5% = 214M fen"),
]


@pytest.mark.parametrize(("hammer", "premium"), PREMIUMS)
def test_court_tiered_premium(hammer: int, premium: int) -> None:
    assert court_tiered_premium(hammer) == premium
    case = make_case(parties=[("bank", 10_000)], claim=hammer, hammer=hammer, premium_schedule="court_tiered")
    statement = compute_statement(case)
    assert statement.premium == premium
    assert statement.buyer_pays == hammer + premium
    assert statement.net == hammer
    assert statement.recovered == hammer
    assert statement.balanced is True


INVALID: list[Any] = [
    pytest.param(
        {"parties": [("bank", 5000), ("guarantor", 4000)]}, "ratios_not_10000", id="ratios sum to 9000"
    ),
    pytest.param(
        {"parties": [("bank", 5000), ("guarantor", 5001)]}, "ratios_not_10000", id="ratios sum to 10001"
    ),
    pytest.param({"hammer": -1}, "negative_amount", id="negative hammer"),
    pytest.param({"claim": -1}, "negative_amount", id="negative claim"),
    pytest.param({"forfeited_deposits": -1}, "negative_amount", id="negative forfeited deposits"),
    pytest.param({"costs": [100, -1]}, "negative_amount", id="negative cost"),
    pytest.param({"advances": [("guarantor", -1)]}, "negative_amount", id="negative advance"),
    pytest.param({"parties": [("guarantor", -1), ("bank", 10_001)]}, "negative_amount", id="negative ratio"),
    pytest.param({"commission_bp": -1}, "negative_amount", id="negative commission bp"),
    pytest.param({"premium_bp": -1}, "negative_amount", id="negative premium bp"),
    pytest.param(
        {"advances": [("guarantor", 1_000_001)]}, "advance_above_claim", id="one advance above the claim"
    ),
    pytest.param(
        {"advances": [("guarantor", 600_000), ("risk_pool", 400_001)]},
        "advance_above_claim",
        id="advances together above the claim",
    ),
    pytest.param(
        {"advances": [("guarantor", 600_000), ("guarantor", 400_001)]},
        "advance_above_claim",
        id="instalments together above the claim",
    ),
    pytest.param({"parties": [("bank", 5000), ("lawyer", 5000)]}, "unknown_role", id="unknown party role"),
    pytest.param({"parties": [("Bank", 10_000)]}, "unknown_role", id="roles are lower case"),
    pytest.param({"advances": [("lawyer", 1)]}, "unknown_role", id="unknown advance role"),
    pytest.param({"parties": [("guarantor", 10_000)]}, "bank_line_missing", id="no bank line"),
    pytest.param({"parties": []}, "bank_line_missing", id="no parties at all"),
    pytest.param(
        {"parties": [("bank", 5000), ("guarantor", 2500), ("guarantor", 2500)]},
        "duplicate_role",
        id="guarantor listed twice",
    ),
    pytest.param({"parties": [("bank", 5000), ("bank", 5000)]}, "duplicate_role", id="bank listed twice"),
    pytest.param(
        {"advances": [("insurer", 1)]}, "advance_without_party", id="insurer advances but is no party"
    ),
    pytest.param({"advances": [("bank", 1)]}, "bank_advance", id="the bank advances to itself"),
    pytest.param({"currency": "cny"}, "bad_currency", id="lower-case currency"),
    pytest.param({"currency": "XYZ"}, "bad_currency", id="unknown currency"),
    pytest.param({"currency": ""}, "bad_currency", id="empty currency"),
    pytest.param({"parties": [("bank", 10_001), ("guarantor", 0)]}, "bad_ratio", id="ratio above 10000"),
    pytest.param({"hammer": 10**15 + 1}, "amount_too_large", id="hammer above 10^15"),
    pytest.param({"claim": 10**15 + 1}, "amount_too_large", id="claim above 10^15"),
    pytest.param({"forfeited_deposits": 10**15 + 1}, "amount_too_large", id="deposits above 10^15"),
    pytest.param({"costs": [10**15 + 1]}, "amount_too_large", id="cost above 10^15"),
    pytest.param({"costs": [6 * 10**14, 6 * 10**14]}, "amount_too_large", id="costs together above 10^15"),
    pytest.param(
        {"claim": 10**15, "advances": [("guarantor", 10**15 + 1)]},
        "amount_too_large",
        id="advance above 10^15",
    ),
    pytest.param({"premium_bp": 10_001}, "bad_premium", id="premium above 100%"),
    pytest.param({"commission_bp": 10_001}, "bad_premium", id="commission above 100%"),
    pytest.param(
        {"premium_schedule": "court_tiered", "premium_bp": 100},
        "bad_premium",
        id="court-tiered with a premium_bp",
    ),
    pytest.param(
        {"premium_schedule": "court_tiered", "currency": "USD"}, "bad_premium", id="court-tiered outside CNY"
    ),
    pytest.param({"premium_schedule": "sliding"}, "bad_premium", id="unknown schedule"),
]

VALID_BASE: dict[str, Any] = {
    "parties": [("bank", 5000), ("guarantor", 2500), ("risk_pool", 2500)],
    "claim": 1_000_000,
    "hammer": 500_000,
}


@pytest.mark.parametrize(("change", "code"), INVALID)
def test_invalid_case(change: dict[str, Any], code: str) -> None:
    case = make_case(**{**VALID_BASE, **change})
    with pytest.raises(SettlementInvalid) as invalid:
        compute_statement(case)
    assert invalid.value.code == code
    assert invalid.value.detail


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({}, id="the base case"),
        pytest.param({"hammer": 10**15, "claim": 10**15}, id="amounts at exactly 10^15"),
        pytest.param({"premium_bp": 10_000, "commission_bp": 10_000}, id="100% premium and commission"),
        pytest.param({"parties": [("bank", 10_000), ("guarantor", 0)]}, id="a 0 bp party"),
        pytest.param({"advances": [("guarantor", 1_000_000)]}, id="an advance equal to the claim"),
        pytest.param({"premium_schedule": "court_tiered"}, id="court-tiered with premium_bp 0"),
        pytest.param({"currency": "JPY"}, id="another currency"),
    ],
)
def test_valid_edges_settle(change: dict[str, Any]) -> None:
    assert compute_statement(make_case(**{**VALID_BASE, **change})).balanced is True


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"hammer": 1.5}, id="float hammer"),
        pytest.param({"claim": True}, id="bool claim"),
        pytest.param({"parties": [("bank", 10_000.0)]}, id="float ratio"),
    ],
)
def test_non_integers_built_in_python_are_type_errors(change: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        compute_statement(make_case(**{**VALID_BASE, **change}))


def test_front_loaded_receipts_can_miss_the_exact_ratio_by_more_than_one_fen() -> None:
    parties = [("bank", 6000), ("guarantor", 2531), ("risk_pool", 508), ("valuer", 961)]
    claim, hammer = 58_472, 16_549
    advances = front_loaded_advances(claim, [Party(role=role, ratio_bp=ratio) for role, ratio in parties])
    statement = compute_statement(
        make_case(
            parties=parties,
            claim=claim,
            hammer=hammer,
            advances=[(advance.role, advance.amount) for advance in advances],
        )
    )
    pool = statement.lines[2]
    assert (pool.advance, pool.loss_share, pool.receives) == (2_971, 2_129, 842)
    assert pool.ratio_bp * statement.recovered == 8_406_892  # 5.08% of 16 549 = 840.6892 fen
    assert statement.balanced is True
