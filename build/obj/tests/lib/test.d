build/obj/tests/lib/test.o: tests/lib/test.c tests/lib/test.h \
 src/common/prng.h src/common/hashmap.h
tests/lib/test.h:
src/common/prng.h:
src/common/hashmap.h:
