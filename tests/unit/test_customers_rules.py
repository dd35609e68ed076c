from services.customers.domain import rules

LEAD = {"lead_id": "L1", "name": "张伟", "company": "上海星辰科技有限公司", "title": "采购经理",
        "phone": "138 0013 8000", "email": "zw@xc.cn", "source": "expo", "tags": ["重点"],
        "owner_id": "u1", "region": "上海", "industry": "制造业"}


def test_a_lead_with_a_company_becomes_a_company_customer():
    c = rules.customer_from_lead(LEAD)
    assert c["name"] == "上海星辰科技有限公司" and c["type"] == "company"
    assert c["owner_id"] == "u1" and c["lead_id"] == "L1" and c["status"] == "intent"


def test_a_lead_without_a_company_becomes_an_individual():
    c = rules.customer_from_lead({**LEAD, "company": "  "})
    assert c["name"] == "张伟" and c["type"] == "individual"


def test_the_lead_person_becomes_the_primary_contact():
    contact = rules.primary_contact_from_lead(LEAD)
    assert contact == {"name": "张伟", "title": "采购经理", "phone": "138 0013 8000",
                       "email": "zw@xc.cn", "is_primary": True}
