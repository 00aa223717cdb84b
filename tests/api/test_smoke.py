def test_me(org, api):
    r = api(org.employee).get("/me")
    assert r.status_code == 200, r.content
    assert r.json()["username"] == "employee"
