build/obj/src/common/prng.o: src/common/prng.c src/common/prng.h \
 src/common/assert.h
src/common/prng.h:
src/common/assert.h:
