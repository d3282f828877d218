"""Running TFF-style aggregation processes for several rounds, for tests."""


def run_rounds(process, rounds, *client_args):
    """The outputs of `rounds` calls of `process.next` on the same client arguments,
    each round starting from the state the previous one returned."""
    state, outputs = process.initialize(), []
    for _ in range(rounds):
        output = process.next(state, *client_args)
        state = output.state
        outputs.append(output)
    return outputs
