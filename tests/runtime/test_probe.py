from fedrun.runtime.probe import dry_run, is_dry_run


def test_dry_run_marks_its_block_and_nests():
    assert not is_dry_run()
    with dry_run():
        assert is_dry_run()
        with dry_run():
            assert is_dry_run()
        assert is_dry_run()
    assert not is_dry_run()
